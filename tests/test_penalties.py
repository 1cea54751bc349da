"""Gradient penalties (WGAN-GP, DRAGAN, R1, R2) pinned on critics with known gradients."""
import numpy as np
import pytest
import torch

from ganscape.config import load_config
from ganscape.penalties import PENALTIES, build_penalty
from ganscape.registry import ConfigError
from ganscape.training import build_parts
from ganscape.training.schemes import build_scheme


class Quadratic(torch.nn.Module):
    """C(x) = a * sum(x^2): grad = 2 a x, so every penalty has a closed form."""

    def __init__(self, a=0.7):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a, dtype=torch.float64))

    def forward(self, x, y=None):
        return self.a * x.pow(2).flatten(1).sum(1)


def batches():
    gen = torch.Generator().manual_seed(0)
    return (torch.randn(6, 3, generator=gen, dtype=torch.float64),
            torch.randn(6, 3, generator=gen, dtype=torch.float64))


def test_registered():
    assert {"wgan_gp", "dragan", "r1", "r2", "none"} <= set(PENALTIES.names())


@pytest.mark.parametrize("name,on_real", [("r1", True), ("r2", False)])
def test_zero_centred(name, on_real):
    real, fake = batches()
    pen = build_penalty({"name": name, "gamma": 4.0})
    got = pen(Quadratic(), real, fake)
    x = (real if on_real else fake).numpy()
    grad = 2 * 0.7 * x
    assert float(got.detach()) == pytest.approx(4.0 / 2 * np.mean((grad ** 2).sum(1)), rel=1e-10)


def test_dragan_formula():
    real, fake = batches()
    pen = build_penalty({"name": "dragan", "weight": 10.0})
    torch.manual_seed(5)
    got = pen(Quadratic(), real, fake)
    torch.manual_seed(5)
    u = torch.rand(6, 3, dtype=torch.float64).numpy()
    x = real.numpy()
    x_hat = x + x.std() * (u - 0.5)  # numpy std: population, over the whole batch
    norms = np.linalg.norm(2 * 0.7 * x_hat, axis=1)
    assert float(got.detach()) == pytest.approx(10.0 * np.mean((norms - 1) ** 2), rel=1e-10)


def test_wgan_gp_formula():
    real, fake = batches()
    pen = build_penalty({"name": "wgan_gp", "weight": 10.0})
    torch.manual_seed(5)
    got = pen(Quadratic(), real, fake)
    torch.manual_seed(5)
    a = torch.rand(6, 1).double().numpy()
    x_hat = real.numpy() + a * (fake.numpy() - real.numpy())
    norms = np.linalg.norm(2 * 0.7 * x_hat, axis=1)
    assert float(got.detach()) == pytest.approx(10.0 * np.mean((norms - 1) ** 2), rel=1e-6)


@pytest.mark.parametrize("name", ["dragan", "r1", "r2", "wgan_gp"])
def test_penalty_reaches_critic_parameters(name):
    real, fake = batches()
    critic = Quadratic()
    build_penalty({"name": name})(critic, real, fake).backward()
    assert critic.a.grad is not None and float(critic.a.grad) != 0


def test_r1_on_image_critic():
    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.LazyLinear(1))
    wrapped = lambda x, y=None: critic(x).flatten()  # noqa: E731
    x = torch.randn(4, 1, 8, 8)
    value = build_penalty({"name": "r1", "gamma": 2.0})(wrapped, x, x)
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(critic(xr).sum(), xr)
    assert float(value.detach()) == pytest.approx(float(g.pow(2).sum((1, 2, 3)).mean()), rel=1e-5)


def test_config_errors():
    with pytest.raises(ConfigError, match="gamma"):
        build_penalty({"name": "r1", "gamma": -1.0})
    with pytest.raises(ConfigError, match="weight"):
        build_penalty({"name": "dragan", "weight": -1.0})
    with pytest.raises(ConfigError, match="penalty.gamma"):
        load_config({"penalty": {"name": "r2", "gamma": "big"}})


@pytest.mark.parametrize("name", ["dragan", "r1", "r2"])
def test_trains_with_alternating_scheme(name):
    cfg = load_config({"penalty": {"name": name}, "data": {"name": "ring8", "n": 2000}, "generator": {"name": "mlp", "hidden": 16},
                       "discriminator": {"name": "mlp", "hidden": 16}, "train": {"batch_size": 32}})
    run = build_parts(cfg)
    scheme = build_scheme(cfg["scheme"])
    for _ in range(3):
        out = scheme.step(run, True)
    assert torch.isfinite(out["penalty"]) and float(out["penalty"]) > 0
