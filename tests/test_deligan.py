"""DeLiGAN mixture prior: reparameterised sampling, regulariser, gradients, training."""
import numpy as np
import pytest
import torch

from ganscape.config import load_config
from ganscape.loading import load_generator
from ganscape.priors import build_prior
from ganscape.registry import ConfigError
from ganscape.training import build_parts
from ganscape.training import train


def test_init_follows_reference():
    torch.manual_seed(0)
    prior = build_prior({"name": "deligan", "dim": 30, "components": 50, "sigma_init": 0.2})
    assert prior.mu.shape == prior.sigma.shape == (50, 30)
    assert float(prior.mu.detach().min()) >= -1 and float(prior.mu.detach().max()) <= 1
    assert float(prior.mu.detach().std()) == pytest.approx(2 / np.sqrt(12), rel=0.1)  # U(-1, 1)
    assert torch.all(prior.sigma == 0.2)


def test_cyclic_sample_is_reparameterised_mixture():
    torch.manual_seed(0)
    prior = build_prior({"name": "deligan", "dim": 3, "components": 4})
    with torch.no_grad():
        prior.sigma.copy_(torch.rand(4, 3) + 0.1)
    torch.manual_seed(7)
    z = prior.sample(12)
    torch.manual_seed(7)
    eps = torch.randn(12, 3).numpy()
    mu, sigma = prior.mu.detach().numpy(), prior.sigma.detach().numpy()
    k = np.arange(12) % 4  # row i uses component i mod N: 12 rows are three whole cycles
    np.testing.assert_allclose(z.detach().numpy(), mu[k] + sigma[k] * eps, rtol=1e-6)


def test_cyclic_batches_that_are_not_whole_cycles_start_anywhere_and_weigh_components_alike():
    """From component 0 every time, 64 rows of 50 components gave 0-13 twice the others' weight in every step, and
    a torchrun share of 25 never trained components 25-49."""
    torch.manual_seed(0)
    prior = build_prior({"name": "deligan", "dim": 2, "components": 50})
    counts = torch.zeros(50)
    for _ in range(2000):
        ids = prior.component_ids(64, "cpu")
        assert torch.equal(ids, (ids[0] + torch.arange(64)) % 50)  # one contiguous cycle
        counts += torch.bincount(ids, minlength=50)
    assert counts.sum() == 128000 and (counts / 2560 - 1).abs().max() < 0.1  # 2,560 each on average
    used = set()
    for _ in range(20):
        used |= set(prior.component_ids(25, "cpu").tolist())
    assert used == set(range(50))


def test_random_assignment_covers_components():
    torch.manual_seed(0)
    prior = build_prior({"name": "deligan", "dim": 2, "components": 5, "sigma_init": 1e-4, "assign": "random"})
    z = prior.sample(2000).detach()
    nearest = torch.cdist(z, prior.mu.detach()).argmin(1)
    counts = torch.bincount(nearest, minlength=5).numpy()
    assert counts.min() > 300  # ~400 each


def test_regulariser_formula():
    prior = build_prior({"name": "deligan", "dim": 2, "components": 3, "weight": 1 / 3})
    sigma = np.array([[0.1, 0.5], [1.2, 0.9], [0.3, 2.0]])
    with torch.no_grad():
        prior.sigma.copy_(torch.tensor(sigma))
    assert float(prior.regularizer().detach()) == pytest.approx(np.mean((1 - sigma) ** 2) / 3, rel=1e-6)
    assert build_prior({"name": "deligan", "dim": 2, "weight": 0.0}).regularizer() is None


def test_means_and_stds_receive_gradients():
    torch.manual_seed(0)
    prior = build_prior({"name": "deligan", "dim": 2, "components": 4})
    G = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    loss = G(prior.sample(8)).pow(2).mean() + prior.regularizer()
    loss.backward()
    assert torch.all(prior.mu.grad.abs().sum(1) > 0)  # every component was used (8 rows, 4 comps)
    assert torch.all(prior.sigma.grad.abs().sum(1) > 0)


def test_config_errors():
    for bad in ({"components": 0}, {"sigma_init": 0.0}, {"weight": -1.0}):
        with pytest.raises(ConfigError):
            build_prior({"name": "deligan", **bad})
    with pytest.raises(ConfigError, match="assign"):
        build_prior({"name": "deligan", "assign": "sometimes"})


def test_trained_with_g_and_restored_from_checkpoint(tmp_path):
    cfg = load_config({"prior": {"name": "deligan", "dim": 2, "components": 8},
                       "generator": {"name": "mlp", "hidden": 16}, "discriminator": {"name": "mlp", "hidden": 16},
                       "train": {"steps": 20, "batch_size": 32, "checkpoint_every": 0, "sample_every": 0}})
    fresh = build_parts(cfg)
    in_opt = {id(p) for group in fresh.opt_g.param_groups for p in group["params"]}
    assert {id(fresh.prior.mu), id(fresh.prior.sigma)} <= in_opt
    run = train(cfg, tmp_path, show_progress=False).parts
    assert not torch.allclose(run.prior.mu, fresh.prior.mu)
    assert not torch.allclose(run.prior.sigma, fresh.prior.sigma)
    loaded = load_generator(tmp_path, device="cpu", ema=False)
    assert torch.equal(loaded.prior.mu, run.prior.mu.detach())
    assert torch.equal(loaded.prior.sigma, run.prior.sigma.detach())
    assert loaded.sample(16).shape == (16, 2)


def test_the_ema_generator_draws_from_the_ema_of_the_prior(tmp_path):
    """The EMA averaged G only: sampling paired the averaged G with the live mixture it was never averaged with.
    The prior is averaged with G (same decay), sampling and training-time evaluation use both averages, and a
    checkpoint from before (no average of the prior) resumes with the prior's weights as its average."""
    from ganscape.training import Trainer
    from ganscape.training.checkpoint import list_checkpoints, read_checkpoint, write_checkpoint

    cfg = load_config({"prior": {"name": "deligan", "dim": 2, "components": 8},
                       "generator": {"name": "mlp", "hidden": 16}, "discriminator": {"name": "mlp", "hidden": 16},
                       "train": {"steps": 20, "batch_size": 32, "checkpoint_every": 10, "sample_every": 0,
                                 "ema_decay": 0.9}})
    trainer = Trainer(cfg)
    shadow = {k: v.clone() for k, v in trainer.parts.prior.state_dict().items()}
    for _ in range(20):
        trainer.fit(steps=1)
        for key, value in trainer.parts.prior.state_dict().items():
            shadow[key] = 0.9 * shadow[key] + 0.1 * value.detach()
    averaged = trainer.averaged["prior"]
    assert all(torch.allclose(averaged.state_dict()[k], shadow[k], atol=1e-6) for k in shadow)
    assert not torch.allclose(averaged.mu, trainer.parts.prior.mu)
    assert trainer.result().sampler().prior is averaged

    train(cfg, tmp_path, show_progress=False)
    state = read_checkpoint(list_checkpoints(tmp_path)[20])
    loaded = load_generator(tmp_path, device="cpu")
    assert torch.equal(loaded.prior.mu, state["callbacks"]["ema"]["prior"]["mu"])
    del state["callbacks"]["ema"]["prior"]  # as written before the prior was averaged
    write_checkpoint(state, tmp_path, 20)
    resumed = train({**cfg, "train": {**cfg["train"], "steps": 21}}, tmp_path, show_progress=False)
    assert resumed.step == 21 and "prior" in read_checkpoint(list_checkpoints(tmp_path)[21])["callbacks"]["ema"]
