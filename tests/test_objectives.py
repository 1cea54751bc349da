"""Each core objective and WGAN-GP pinned against a direct formula on fixed tensors."""
from __future__ import annotations

import math

import pytest
import torch

from ganscape.losses import OBJECTIVES, build_objective
from ganscape.penalties import build_penalty

REAL = torch.tensor([2.0, -0.5, 0.3, 1.7])
FAKE = torch.tensor([-1.2, 0.4, -3.0, 0.1])


def sig(x):
    return 1 / (1 + math.exp(-x))


def mean(values):
    return sum(values) / len(values)


R, F = REAL.tolist(), FAKE.tolist()
EXPECTED = {
    "minimax": (mean([-math.log(sig(r)) for r in R]) + mean([-math.log(1 - sig(f)) for f in F]),
                mean([math.log(1 - sig(f)) for f in F])),
    "nonsaturating": (mean([-math.log(sig(r)) for r in R]) + mean([-math.log(1 - sig(f)) for f in F]),
                      mean([-math.log(sig(f)) for f in F])),
    "wgan": (mean(F) - mean(R), -mean(F)),
    "least_squares": (0.5 * mean([(r - 1) ** 2 for r in R]) + 0.5 * mean([f ** 2 for f in F]),
                      0.5 * mean([(f - 1) ** 2 for f in F])),
    "hinge": (mean([max(0, 1 - r) for r in R]) + mean([max(0, 1 + f) for f in F]), -mean(F)),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_objective_matches_formula(name):
    obj = build_objective({"name": name})
    d_expected, g_expected = EXPECTED[name]
    assert obj.d_loss(REAL, FAKE).item() == pytest.approx(d_expected, rel=1e-6)
    assert obj.g_loss(FAKE, REAL).item() == pytest.approx(g_expected, rel=1e-6)


def test_every_registered_core_objective_is_pinned():
    core = {"minimax", "nonsaturating", "wgan", "least_squares", "hinge"}
    assert core <= set(OBJECTIVES.names())
    assert core == set(EXPECTED)


def test_bce_is_stable_for_large_logits():
    obj = build_objective({"name": "nonsaturating"})
    big = torch.tensor([1e4, -1e4])
    assert torch.isfinite(obj.d_loss(big, -big)) and torch.isfinite(obj.g_loss(-big))


class LinearCritic(torch.nn.Module):
    """D(x) = <w, x>, whose input gradient is w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x, y=None):
        return x.flatten(1) @ self.w


def test_wgan_gp_penalty_formula():
    w = torch.tensor([3.0, 4.0])  # ||grad|| = 5 for every interpolate
    critic = LinearCritic(w)
    penalty = build_penalty({"name": "wgan_gp", "weight": 10.0})
    value = penalty(critic, torch.randn(8, 2), torch.randn(8, 2))
    assert value.item() == pytest.approx(10.0 * (5 - 1) ** 2)
    value.backward()
    # d/dw of 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w||
    assert torch.allclose(critic.w.grad, 20 * 4 * w / 5)
