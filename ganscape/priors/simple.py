"""Fixed latent priors: standard normal and uniform on [-1, 1]."""
from __future__ import annotations

import torch

from ganscape.priors.base import PRIORS, Prior
from ganscape.registry import ConfigError


def _check_dim(dim: int) -> None:
    if dim < 1:
        raise ConfigError(f"prior.dim: must be >= 1, got {dim}")


class GaussianPrior(Prior):
    def sample(self, n, device="cpu"):
        return torch.randn(n, self.dim, device=device)


class UniformPrior(Prior):
    def sample(self, n, device="cpu"):
        return torch.rand(n, self.dim, device=device) * 2 - 1


@PRIORS.register("gaussian", "Standard normal N(0, I)")
def gaussian(dim: int = 100):
    _check_dim(dim)
    return GaussianPrior(dim)


@PRIORS.register("uniform", "Uniform on [-1, 1]^dim")
def uniform(dim: int = 100):
    _check_dim(dim)
    return UniformPrior(dim)
