"""Registries for generator and discriminator architectures, and shared layer helpers.

Interface every architecture follows (``ganscape.interfaces``):
- generator factory ``(data_shape, z_dim, num_classes, **options) -> GeneratorNet`` whose
  ``forward(z: (B, z_dim), y: (B,) int64 | None) -> (B, *data_shape)`` (images in [-1, 1]).
- discriminator factory ``(data_shape, num_classes, **options) -> CriticNet`` whose
  ``forward(x: (B, *data_shape), y: (B,) | None) -> (B,)`` raw scores (logits), with
  ``features(x, y)`` (the body before the score layer) and ``as_encoder()``.
Factories raise ConfigError for a size or option they cannot make. A factory may declare the data shape of its
reference definition (``reference_shape`` in the registry entry's meta)."""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ganscape.registry import Registry

GENERATORS = Registry("generator", context_args=("data_shape", "z_dim", "num_classes"))
DISCRIMINATORS = Registry("discriminator", context_args=("data_shape", "num_classes"))

Norm = Literal["none", "batch", "layer", "spectral"]
NORMS = ("none", "batch", "layer", "spectral")


class GeneratorNet(nn.Module):
    """Base of every generator: ``num_classes`` > 0 when it takes class labels."""

    num_classes: int = 0


class CriticNet(nn.Module):
    """Base of every discriminator (see the module docstring); ``aux_classes`` > 0 marks an AC-GAN head:
    ``forward_aux(x, y) -> (scores (B,), logits (B, K))``."""

    aux_classes: int = 0

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def as_encoder(self) -> "CriticNet":
        """This critic for use as an encoder: ``features`` is all that will be called."""
        return self

    def forward_aux(self, x: torch.Tensor, y: torch.Tensor | None = None):
        raise TypeError(f"{type(self).__name__} has no auxiliary classifier head (aux_classes = 0)")


class SequentialCritic(CriticNet):
    """A critic whose layers are one ``nn.Sequential`` ``net`` ending in its score layer."""

    net: nn.Sequential

    def forward(self, x, y=None):
        return self.net(x).reshape(x.shape[0])  # (B, 1, 1, 1) or (B, 1) -> (B,)

    def features(self, x, y=None):
        return self.net[:-1](x)

    def as_encoder(self) -> "SequentialCritic":
        """Drop the score layer (its weights are not trained as part of an encoder)."""
        self.net[-1] = nn.Identity()
        return self


def feature_norm(kind: Norm, channels: int, spatial: bool = True) -> nn.Module:
    """Normalisation after a conv/linear layer: batch, layer (over C,H,W) or nothing (also for
    spectral norm, which wraps the weights instead: see ``maybe_spectral``)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels) if spatial else nn.BatchNorm1d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels) if spatial else nn.LayerNorm(channels)
    return nn.Identity()


def maybe_spectral(layer: nn.Module, kind: Norm, power_iterations: int = 1) -> nn.Module:
    """Wrap ``layer``'s weight in spectral normalisation when ``kind == 'spectral'``."""
    if kind == "spectral":
        return nn.utils.parametrizations.spectral_norm(layer, n_power_iterations=power_iterations)
    return layer


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv/linear weights N(0, 0.02), norm scales N(1, 0.02), zero bias."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d, nn.GroupNorm, nn.LayerNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_generator(section: dict, data_shape: tuple[int, ...], z_dim: int, num_classes: int = 0) -> nn.Module:
    return GENERATORS.build(section, "generator", data_shape=tuple(data_shape), z_dim=z_dim, num_classes=num_classes)


def build_discriminator(section: dict, data_shape: tuple[int, ...], num_classes: int = 0) -> nn.Module:
    return DISCRIMINATORS.build(section, "discriminator", data_shape=tuple(data_shape), num_classes=num_classes)
