"""PacGAN packing (Lin et al. 2018, "PacGAN: The power of two samples in generative adversarial networks").

A packed discriminator scores m samples at once: the batch (B, *shape) is cut into B/m groups of m consecutive
samples, and each group becomes one input, its samples concatenated along features (vectors: (B/m, m*d)) or channels
(images: (B/m, m*C, H, W)). The inner discriminator is any registered one, built for that packed shape; it returns
one score per group, (B/m,). Real groups hold only real samples and fake groups only generated ones, as in the
paper, so every objective and penalty works unchanged on the (B/m,) scores: gradient penalties take the norm of the
gradient with respect to each packed input (``ganscape.penalties.gradient_norms``), and WGAN-GP interpolates each
group with one coefficient.

Set it on any discriminator with ``discriminator.pack: m`` (1 = no packing); ``train.batch_size`` must be a multiple
of m."""
from __future__ import annotations

import torch

from ganscape.models.base import CriticNet
from ganscape.registry import ConfigError


def packed_shape(data_shape: tuple[int, ...], pack: int) -> tuple[int, ...]:
    """The inner discriminator's input shape: the first (feature or channel) axis m times wider."""
    return (data_shape[0] * pack, *data_shape[1:])


def pack_batch(x: torch.Tensor, pack: int) -> torch.Tensor:
    """(B, d) -> (B/m, m*d) and (B, C, H, W) -> (B/m, m*C, H, W): samples i*m .. i*m+m-1 make input i."""
    if x.shape[0] % pack:
        raise ValueError(f"discriminator.pack: a batch of {x.shape[0]} samples cannot be cut into groups of {pack}; "
                         "use a batch size that is a multiple of pack")
    return x.reshape(x.shape[0] // pack, pack * x.shape[1], *x.shape[2:])


class PackedCritic(CriticNet):
    """Scores groups of ``pack`` samples with ``inner``: forward(x (B, *shape), y ignored) -> (B/pack,)."""

    def __init__(self, inner: CriticNet, pack: int):
        super().__init__()
        self.inner, self.pack = inner, pack

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.inner(pack_batch(x, self.pack))

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.inner.features(pack_batch(x, self.pack))

    def as_encoder(self) -> CriticNet:
        raise ConfigError("discriminator.pack: a packed discriminator scores groups of samples and cannot encode "
                          "single ones; use pack: 1")


def pack_critic(inner: CriticNet, pack: int, who: str = "discriminator") -> CriticNet:
    """``inner`` itself for pack 1, else a PackedCritic; conditional and pair critics are refused (their labels and
    pairs belong to single samples)."""
    if pack == 1:
        return inner
    if inner.uses_labels or inner.aux_classes:
        raise ConfigError(f"{who}.pack: {pack} packs unconditional discriminators only (a group of samples has no "
                          "single label); use pack: 1 or conditioning: none")
    if not inner.packable:
        raise ConfigError(f"{who}.pack: {pack} cannot pack the {type(inner).__name__} (it compares single samples); "
                          "use pack: 1")
    return PackedCritic(inner, pack)
