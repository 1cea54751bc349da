"""PacGAN packing (Lin et al. 2018): the discriminator sees m samples side by side, and every objective, penalty
and scheme composes with it."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ganscape.models import build_discriminator
from ganscape.models.packing import PackedCritic, pack_batch
from ganscape.penalties import build_penalty
from ganscape.registry import ConfigError
from ganscape.training import Trainer


class Recorder(torch.nn.Module):
    """Inner critic that records its input and scores it as a * sum(x^2) (gradient 2 a x)."""

    def __init__(self, a=0.7):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a, dtype=torch.float64))
        self.seen = []

    def forward(self, x, y=None):
        self.seen.append(x.detach().clone())
        return self.a * x.pow(2).flatten(1).sum(1)


def test_vectors_are_concatenated_along_features():
    x = torch.arange(8 * 2, dtype=torch.float64).reshape(8, 2)
    inner = Recorder()
    scores = PackedCritic(inner, 4)(x)
    (seen,) = inner.seen
    assert seen.shape == (2, 8) and scores.shape == (2,)
    # packed input i is samples 4i .. 4i+3, one after the other: [x_4i, x_4i+1, x_4i+2, x_4i+3]
    assert torch.equal(seen[1], torch.cat([x[4], x[5], x[6], x[7]]))


def test_images_are_concatenated_along_channels():
    x = torch.randn(6, 3, 4, 5)
    packed = pack_batch(x, 2)
    assert packed.shape == (3, 6, 4, 5)
    assert torch.equal(packed[2, :3], x[4]) and torch.equal(packed[2, 3:], x[5])


def test_a_packed_discriminator_is_built_for_the_packed_shape():
    mlp = build_discriminator({"name": "mlp", "hidden": 8, "layers": 1, "pack": 3}, (2,))
    assert isinstance(mlp, PackedCritic) and mlp.inner.net[0].in_features == 6
    assert mlp(torch.randn(9, 2)).shape == (3,)
    dcgan = build_discriminator({"name": "dcgan", "ndf": 4, "pack": 2}, (1, 16, 16))
    assert dcgan.inner.net[0].in_channels == 2 and dcgan(torch.randn(4, 1, 16, 16)).shape == (2,)
    assert not isinstance(build_discriminator({"name": "mlp", "hidden": 8}, (2,)), PackedCritic)  # pack: 1


def test_wgan_gp_on_a_packed_critic_interpolates_and_normalises_per_group():
    gen = torch.Generator().manual_seed(0)
    real, fake = (torch.randn(6, 3, generator=gen, dtype=torch.float64) for _ in range(2))
    torch.manual_seed(5)
    got = build_penalty({"name": "wgan_gp", "weight": 10.0})(PackedCritic(Recorder(), 2), real, fake)
    torch.manual_seed(5)
    a = torch.rand(3, 1).double().numpy()                       # one coefficient per group of 2
    real_p, fake_p = real.numpy().reshape(3, 6), fake.numpy().reshape(3, 6)
    x_hat = real_p + a * (fake_p - real_p)                      # interpolate packed inputs
    norms = np.linalg.norm(2 * 0.7 * x_hat, axis=1)             # gradient norm per packed input
    assert float(got.detach()) == pytest.approx(10.0 * np.mean((norms - 1) ** 2), rel=1e-10)


@pytest.mark.parametrize("penalty", ["r1", "dragan"])
def test_other_penalties_take_the_norm_per_packed_input(penalty):
    real, fake = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    critic = PackedCritic(Recorder(), 2)
    build_penalty({"name": penalty})(critic, real, fake)
    assert critic.inner.seen[-1].shape == (2, 6)


def tiny(**overrides) -> dict:
    config = {"seed": 0, "device": "cpu", "data": {"name": "ring8", "n": 256}, "prior": {"name": "gaussian", "dim": 2},
              "generator": {"name": "mlp", "hidden": 16, "layers": 1},
              "discriminator": {"name": "mlp", "hidden": 16, "layers": 1, "pack": 2},
              "train": {"steps": 3, "batch_size": 8, "log_every": 1, "checkpoint_every": 0, "sample_every": 0}}
    for key, value in overrides.items():
        config[key] = value
    return config


@pytest.mark.parametrize("scheme", [{"name": "alternating", "n_critic": 2}, {"name": "egan", "parents": 1},
                                    {"name": "egan", "parents": 2}])
def test_schemes_train_a_packed_discriminator(scheme):
    result = Trainer(tiny(scheme=scheme)).fit()
    assert len(result.history) == 3 and all(np.isfinite(v) for row in result.history for v in row.values())


@pytest.mark.parametrize("config,message", [
    (tiny(train={"steps": 1, "batch_size": 7}), "train.batch_size: 7 is not a multiple of discriminator.pack (2)"),
    (tiny(discriminator={"name": "mlp", "pack": 0}), "discriminator.pack: must be >= 1, got 0"),
    (tiny(discriminator={"name": "mlp", "pack": 1.5}), "discriminator.pack: expected int"),
    (tiny(discriminator={"name": "pair", "pack": 2}), "discriminator.pack: 2 cannot pack"),
    (tiny(discriminator={"name": "pair", "encoder": {"name": "mlp", "pack": 2}}), "discriminator.encoder.pack"),
    (tiny(data={"name": "digits", "size": 8}, generator={"name": "cdcgan", "ngf": 4},
          discriminator={"name": "cdcgan", "ndf": 4, "pack": 2}), "discriminator.pack: 2 packs unconditional"),
])
def test_impossible_packings_are_refused_in_one_line(config, message):
    with pytest.raises(ConfigError) as err:
        Trainer(config)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
