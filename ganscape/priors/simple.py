"""Fixed latent priors: standard normal and uniform on [-1, 1]."""
from __future__ import annotations

import torch

from ganscape.priors.base import PRIORS, Prior
from ganscape.registry import Positive


class GaussianPrior(Prior):
    def sample(self, n, device="cpu"):
        return torch.randn(n, self.dim, device=device)


class UniformPrior(Prior):
    def sample(self, n, device="cpu"):
        return torch.rand(n, self.dim, device=device) * 2 - 1


@PRIORS.register("gaussian", "Standard normal N(0, I)")
def gaussian(dim: Positive = 100):
    return GaussianPrior(dim)


@PRIORS.register("uniform", "Uniform on [-1, 1]^dim")
def uniform(dim: Positive = 100):
    return UniformPrior(dim)
