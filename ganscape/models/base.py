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

from ganscape.registry import Positive, Registry


def discriminator_options(pack: Positive = 1) -> None:
    """Options every discriminator takes. ``pack``: score groups of this many samples as one input (PacGAN;
    ``ganscape.models.packing``); 1 = no packing."""


GENERATORS = Registry("generator", context_args=("data_shape", "z_dim", "num_classes"))
DISCRIMINATORS = Registry("discriminator", context_args=("data_shape", "num_classes"), shared=discriminator_options)

Norm = Literal["none", "batch", "layer", "spectral"]
NORMS = ("none", "batch", "layer", "spectral")


class GeneratorNet(nn.Module):
    """Base of every generator: ``num_classes`` > 0 when it takes class labels. A generator with a regulariser of its
    own (StyleGAN's path length) sets ``penalty_every`` = k > 0: the scheme adds ``penalty(z, y)`` on every k-th G
    step, multiplied by k."""

    num_classes: int = 0
    penalty_every: int = 0

    def penalty(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no regulariser of its own (penalty_every = 0)")


class CriticNet(nn.Module):
    """Base of every discriminator (see the module docstring); ``aux_classes`` > 0 marks an AC-GAN head:
    ``forward_aux(x, y) -> (scores (B,), logits (B, K))``."""

    aux_classes: int = 0
    packable: bool = True  # PacGAN packing may wrap it (False for critics of single samples, e.g. the pair critic)

    @property
    def uses_labels(self) -> bool:
        """Whether its scores depend on the labels ``y`` (conditional discriminators)."""
        return False

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
    """The discriminator of ``section``, packed when it sets ``pack`` > 1 (built for the packed input shape)."""
    from ganscape.models.packing import pack_critic, packed_shape  # packing builds on CriticNet, defined here

    DISCRIMINATORS.validate(section, "discriminator")
    pack = DISCRIMINATORS.shared_options(section)["pack"]
    inner = DISCRIMINATORS.build(section, "discriminator", data_shape=packed_shape(tuple(data_shape), pack),
                                 num_classes=num_classes)
    return pack_critic(inner, pack)
