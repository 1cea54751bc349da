"""The latent prior interface.

A prior is an ``nn.Module`` with ``dim`` (latent size), ``sample(n, device) -> (n, dim)`` and
``regularizer() -> scalar tensor | None`` added to the G loss. Learnable priors (e.g. DeLiGAN's mixture) expose
parameters; the trainer optimises them with G."""
from __future__ import annotations

import torch
from torch import nn

from ganscape.registry import Registry

PRIORS = Registry("prior")


class Prior(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def sample(self, n: int, device: torch.device | str = "cpu") -> torch.Tensor:
        raise NotImplementedError

    def regularizer(self) -> torch.Tensor | None:
        return None


def build_prior(section: dict) -> Prior:
    return PRIORS.build(section, "prior")
