"""Conditional GANs: conditional BN (1 + f(y)), projection D, AC-GAN loss on raw logits, the
alternating scheme's aux hook, class-conditional sampling, and a short learning run."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ganscape.models.conditional import ClassBatchNorm, CriticHead
from ganscape.registry import ConfigError
from ganscape.training.schemes.alternating import AuxRecorder



def test_class_batch_norm_scale_is_one_plus_embedding():
    layer = ClassBatchNorm(3, 4).train()
    x, y = torch.randn(8, 3, 2, 2), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    xn = x.numpy().astype(np.float64)
    mean, var = xn.mean(axis=(0, 2, 3), keepdims=True), xn.var(axis=(0, 2, 3), keepdims=True)
    normed = (xn - mean) / np.sqrt(var + 1e-5)
    # zero-initialised embeddings: plain batch norm (the missing "+1" of compare_gan would give 0)
    assert np.allclose(layer(x, y).detach().numpy(), normed, atol=1e-5)
    with torch.no_grad():
        layer.gamma.weight.copy_(torch.randn(4, 3))
        layer.beta.weight.copy_(torch.randn(4, 3))
    g, b = layer.gamma.weight.detach().numpy()[y], layer.beta.weight.detach().numpy()[y]
    expected = normed * (1 + g[:, :, None, None]) + b[:, :, None, None]
    assert np.allclose(layer(x, y).detach().numpy(), expected, atol=1e-5)
    with pytest.raises(ValueError, match="labels"):
        layer(x, None)


def test_projection_head_adds_inner_product_of_embedding_and_features():
    head = CriticHead(5, 3, "projection", "none")
    h, y = torch.randn(4, 5), torch.tensor([0, 2, 1, 2])
    w, b = head.linear.weight.detach().numpy(), head.linear.bias.detach().numpy()
    e = head.embed.weight.detach().numpy()
    hn = h.numpy()
    expected = hn @ w[0] + b[0] + (e[y.numpy()] * hn).sum(axis=1)
    assert np.allclose(head(h, y).detach().numpy(), expected, atol=1e-5)
    with pytest.raises(ValueError, match="conditional generator"):
        head(h, None)


class TinyACGAN(nn.Module):
    def __init__(self):
        super().__init__()
        self.score, self.cls = nn.Linear(4, 1), nn.Linear(4, 3)

    def forward_aux(self, x, y=None):
        return self.score(x).squeeze(1), self.cls(x)


def test_aux_loss_is_cross_entropy_of_raw_logits():
    critic = AuxRecorder(TinyACGAN())
    x_real, x_fake = torch.randn(6, 4), torch.randn(6, 4)
    y_real, y_fake = torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([2, 2, 1, 1, 0, 0])
    critic(x_real, y_real)
    critic(x_fake, y_fake)

    def ce(x, y):
        logits = critic.critic.cls(x).detach().numpy().astype(np.float64)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))  # one log-softmax, no double softmax
        return -logp[np.arange(len(y)), y.numpy()].mean()

    assert np.isclose(critic.loss().item(), (ce(x_real, y_real) + ce(x_fake, y_fake)) / 2, atol=1e-6)
    assert np.isclose(critic.loss(only=x_fake).item(), ce(x_fake, y_fake), atol=1e-6)
    critic.calls.clear()
    critic(x_fake, None)  # unconditional G: no labels for fakes -> no term
    assert critic.loss() is None


def test_scheme_logs_aux_terms_only_for_acgan(tmp_path):
    from ganscape.config import load_config
    from ganscape.training import train
    from ganscape.utils.io import read_jsonl

    small = ["device=cpu", "generator.ngf=8", "discriminator.ndf=8", "data.size=8", "train.steps=2",
             "train.batch_size=16", "train.log_every=1", "train.sample_every=0", "train.checkpoint_every=2"]
    train(load_config("acgan-digits", small), tmp_path / "ac", show_progress=False)
    train(load_config("cdcgan-digits", small), tmp_path / "proj", show_progress=False)
    ac, proj = read_jsonl(tmp_path / "ac" / "metrics.jsonl")[-1], read_jsonl(tmp_path / "proj" / "metrics.jsonl")[-1]
    assert ac["aux_d"] > 0 and ac["aux_g"] > 0
    assert "aux_d" not in proj and "aux_g" not in proj
    from ganscape.training.schemes import build_scheme

    with pytest.raises(ConfigError, match="aux_weight"):
        build_scheme({"name": "alternating", "aux_weight": -1.0})


@pytest.mark.parametrize("preset", ["acgan-digits", "cdcgan-digits"])
def test_conditional_dcgan_learns_class_conditional_digits(tmp_path, preset):
    """Samples asked for class k are classified as k (nearest real class centroid) far above chance."""
    from ganscape.cli import main
    from ganscape.config import load_config
    from ganscape.data import build_dataset
    from ganscape.loading import load_generator
    from ganscape.training import train

    cfg = load_config(preset, ["device=cpu", "generator.ngf=32", "discriminator.ndf=32", "data.size=8",
                                       "train.steps=400", "train.batch_size=64", "train.ema_decay=0.0",
                                       "train.checkpoint_every=400", "train.sample_every=0", "train.log_every=100",
                                       "optim.g.lr=0.0005", "optim.d.lr=0.0005"])
    train(cfg, tmp_path / "run", show_progress=False)
    data = build_dataset({"name": "digits", "size": 8})
    centroids = torch.stack([data.x[data.y == k].mean(0) for k in range(10)]).flatten(1)
    y = torch.arange(500) % 10
    x = load_generator(tmp_path / "run", device="cpu").sample(500, seed=1, labels=y)
    agree = (torch.cdist(x.flatten(1), centroids).argmin(1) == y).float().mean().item()
    print(preset, "class agreement", agree)
    assert agree > 0.6, agree  # chance 0.10; measured 1.00 (acgan) with one-hot y fed to G as well as CBN
    assert main(["sample", str(tmp_path / "run"), "--class", "3", "--n", "4", "--out", str(tmp_path / "s.png"),
                 "--device", "cpu"]) == 0
    assert main(["sample", str(tmp_path / "run"), "--class", "10", "--out", str(tmp_path / "s.png")]) == 2


def test_the_class_conditional_preview_has_one_column_per_class():
    """The preview tiled 64 samples of classes i % 10 eight to a row, so classes ran along diagonals while its
    docstring promised rows; now column k holds class k."""
    from ganscape.training import Trainer

    trainer = Trainer("cdcgan-digits", ["train.steps=1", "generator.ngf=4", "discriminator.ndf=4"])
    preview = trainer.parts.preview(trainer.sampling_modules())
    assert preview.nrow == 10 and preview.samples.shape[0] == 60  # sample i has class i % 10: column i % 10


@pytest.mark.parametrize("preset,overrides,message", [
    ("cdcgan-digits", ["discriminator.name=dcgan"], "generator: 'cdcgan' is conditional, but discriminator 'dcgan' "
                                                     "ignores labels (conditioning none)"),
    ("sndcgan-cifar10", ["generator.conditional=true"], "generator: 'sndcgan' is conditional, but discriminator "
                                                        "'sndcgan' ignores labels (conditioning none)"),
])
def test_a_conditional_generator_against_a_label_blind_critic_is_refused(preset, overrides, message):
    """A conditional G trained against a D that never sees labels got no signal to follow them: training and
    ``sample --class`` ran, and the class changed nothing."""
    from ganscape.config import load_config
    from ganscape.config.validate import validate

    with pytest.raises(ConfigError) as err:
        validate(load_config(preset, ["device=cpu", *overrides]))
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_bad_labels_tensor_is_one_clear_error_before_the_generator_runs():
    """GeneratorSampler.sample(labels=tensor) passed any tensor to G: floats, a wrong length or a class id out of
    range failed inside the embedding (on a GPU as a device-side assert that ends the CUDA context)."""
    from ganscape.models import build_generator
    from ganscape.priors import build_prior
    from ganscape.sampling import GeneratorSampler

    torch.manual_seed(0)
    prior = build_prior({"name": "gaussian", "dim": 8})
    G = build_generator({"name": "cdcgan", "ngf": 8}, (1, 16, 16), prior.dim, 10).eval()
    sampler = GeneratorSampler(G, prior.eval(), {"generator": {"name": "cdcgan"}}, 10, {"shape": [1, 16, 16]},
                               torch.device("cpu"))
    assert sampler.sample(4, seed=1, labels=torch.tensor([0, 9, 3, 3])).shape == (4, 1, 16, 16)
    for labels, message in ((torch.tensor([0.0, 1.0, 2.0, 3.0]), "must be integers, got a torch.float32"),
                            (torch.tensor([0, 1, 2]), r"expected shape \(4,\).*got \(3,\)"),
                            (torch.tensor([[0, 1], [2, 3]]), r"got \(2, 2\)"),
                            (torch.tensor([0, 1, 10, 2]), r"labels: 10 is not a class of this run; valid: 0\.\.9"),
                            (torch.tensor([0, -1, 1, 2]), "labels: -1 is not a class"),
                            ([0, 1, 2, 3], "got list")):
        with pytest.raises(ConfigError, match=message):
            sampler.sample(4, seed=1, labels=labels)
