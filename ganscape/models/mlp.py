"""Multi-layer perceptrons for vector (toy 2-D) data, and the linear-maxout discriminator of the PacGAN/VEEGAN/ALI toy
experiments."""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ganscape.models.base import (DISCRIMINATORS, GENERATORS, GeneratorNet, Norm, SequentialCritic, feature_norm,
                                  maybe_spectral)
from ganscape.registry import ConfigError, Fraction, NonNegative, Positive


def _vector_dim(data_shape: tuple[int, ...], who: str) -> int:
    if len(data_shape) != 1:
        raise ConfigError(f"{who}.name: 'mlp' is for vector data, got samples of shape {data_shape}; "
                          "use an image architecture (e.g. dcgan)")
    return data_shape[0]


def normal_init(module: nn.Module, std: float) -> None:
    """Linear weights N(0, std), biases 0 (std 0: keep PyTorch's default initialisation)."""
    if std:
        for m in module.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)


class InterleavedBatchNorm1d(nn.BatchNorm1d):
    """Batch norm whose training statistics are taken over ``groups`` interleaved groups of the batch separately:
    sample j belongs to group j mod ``groups``, as the slots of a PacGAN-m batch do (``ganscape.models.packing``
    packs samples i*m .. i*m+m-1 into one input), so with ``groups`` = m each slot is normalised on its own, as when
    the PacGAN code draws its m generator batches with m separate calls. The running statistics (used for sampling)
    move towards the groups' mean batch mean and mean unbiased batch variance. ``groups`` 1 is ``nn.BatchNorm1d``.
    forward: x (B, features), B a multiple of ``groups`` in training -> (B, features)."""

    def __init__(self, features: int, momentum: float, groups: int):
        super().__init__(features, momentum=momentum)
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.groups == 1:
            return super().forward(x)
        batch, features = x.shape
        if batch % self.groups or batch // self.groups < 2:
            raise ValueError(f"generator.bn_groups: a batch of {batch} samples cannot be cut into {self.groups} "
                             "groups of at least two; use a batch size that is a multiple of bn_groups")
        wide = x.to(torch.promote_types(x.dtype, torch.float32))  # fp16/bf16 statistics in float32, as BN's
        # (B, F) -> (B/g, g*F): column k*F + f holds feature f of slot k, so native per-column batch norm is per slot
        slot_mean, slot_var = self.running_mean.repeat(self.groups), self.running_var.repeat(self.groups)
        out = F.batch_norm(wide.reshape(batch // self.groups, self.groups * features), slot_mean, slot_var,
                           self.weight.repeat(self.groups), self.bias.repeat(self.groups), True, self.momentum,
                           self.eps)
        self.average_slots(slot_mean, slot_var)
        return out.reshape(batch, features).to(x.dtype)

    @torch.no_grad()
    def average_slots(self, slot_mean: torch.Tensor, slot_var: torch.Tensor) -> None:
        """The running statistics from the (groups * features,) per-slot ones ``F.batch_norm`` moved this step (each
        towards its slot's mean and unbiased variance): their mean over the slots, which is the shared statistics moved
        towards the slots' mean batch mean and mean unbiased variance."""
        self.running_mean.copy_(slot_mean.view(self.groups, -1).mean(dim=0))
        self.running_var.copy_(slot_var.view(self.groups, -1).mean(dim=0))
        self.num_batches_tracked += 1


class MLPGenerator(GeneratorNet):
    def __init__(self, z_dim: int, out_dim: int, hidden: int, layers: int, norm: str = "none", init_std: float = 0.0,
                 bn_momentum: float = 0.1, bn_groups: int = 1):
        super().__init__()
        blocks, width = [], z_dim
        for _ in range(layers):
            if norm == "batch":  # the norm's shift replaces the bias, as in the PacGAN toy generator
                blocks += [nn.Linear(width, hidden, bias=False), InterleavedBatchNorm1d(hidden, bn_momentum, bn_groups),
                           nn.ReLU()]
            else:
                blocks += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.net = nn.Sequential(*blocks, nn.Linear(width, out_dim))
        normal_init(self, init_std)

    def forward(self, z, y=None):
        """z: (B, z_dim) -> (B, out_dim)."""
        return self.net(z)


class MLPDiscriminator(SequentialCritic):
    def __init__(self, in_dim: int, hidden: int, layers: int, norm: Norm):
        super().__init__()
        blocks, width = [], in_dim
        for _ in range(layers):
            blocks += [maybe_spectral(nn.Linear(width, hidden), norm),
                       feature_norm(norm, hidden, spatial=False), nn.LeakyReLU(0.2)]
            width = hidden
        self.net = nn.Sequential(*blocks, maybe_spectral(nn.Linear(width, 1), norm))  # x (B, in_dim) -> (B,)


class LinearMaxout(nn.Module):
    """Linear to ``out * pieces`` units, then the max over each unit's ``pieces``: (B, in) -> (B, out)."""

    def __init__(self, in_dim: int, out_dim: int, pieces: int):
        super().__init__()
        self.linear, self.out_dim, self.pieces = nn.Linear(in_dim, out_dim * pieces), out_dim, pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # amax, not max().values: pieces tied for the max share the gradient evenly, where max() would pick one.
        # Ties are rare (2 in 500 steps of the --paper D, grid and ring), but each changes the run from there on.
        return self.linear(x).reshape(x.shape[0], self.out_dim, self.pieces).amax(dim=2)


class MaxoutDiscriminator(SequentialCritic):
    def __init__(self, in_dim: int, hidden: int, layers: int, pieces: int, init_std: float):
        super().__init__()
        blocks = [LinearMaxout(in_dim if i == 0 else hidden, hidden, pieces) for i in range(layers)]
        self.net = nn.Sequential(*blocks, nn.Linear(hidden, 1))  # x (B, in_dim) -> (B,)
        normal_init(self, init_std)


@GENERATORS.register("mlp", "MLP generator for vector data (ReLU hidden layers, optional batch norm)",
    citation='Goodfellow et al. 2014; batch norm and N(0, 0.02) init as in the PacGAN toy generator (Lin et al. 2018)')
def mlp_generator(data_shape, z_dim, num_classes, hidden: Positive = 256, layers: Positive = 3,
                  norm: Literal["none", "batch"] = "none", init_std: NonNegative = 0.0, bn_momentum: Fraction = 0.1,
                  bn_groups: Positive = 1):
    """``init_std`` > 0: weights N(0, init_std) and zero biases; 0 keeps PyTorch's default initialisation.
    ``bn_momentum`` (with norm batch): the weight of each batch's statistics in the running ones used for sampling
    (PyTorch's convention; the PacGAN toy code 0.05). ``bn_groups`` (with norm batch): training statistics per
    interleaved group of the batch (``InterleavedBatchNorm1d``); set it to ``discriminator.pack`` to normalise each
    packing slot on its own, as the PacGAN code does."""
    if bn_groups > 1 and norm != "batch":
        raise ConfigError(f"generator.bn_groups: {bn_groups} groups batch-norm statistics, but generator.norm is "
                          f"{norm!r}; use norm: batch or bn_groups: 1")
    return MLPGenerator(z_dim, _vector_dim(data_shape, "generator"), hidden, layers, norm, init_std, bn_momentum,
                        bn_groups)


@DISCRIMINATORS.register("maxout", "MLP of linear-maxout layers for vector data (the PacGAN/VEEGAN toy critic)",
    citation='Goodfellow et al. 2013, "Maxout Networks"; 3 x 200 units, 5 pieces in Lin et al. 2018 (PacGAN)')
def maxout_discriminator(data_shape, num_classes, hidden: Positive = 200, layers: Positive = 3, pieces: Positive = 5,
                         init_std: NonNegative = 0.02):
    return MaxoutDiscriminator(_vector_dim(data_shape, "discriminator"), hidden, layers, pieces, init_std)


@DISCRIMINATORS.register("mlp", "MLP discriminator for vector data (LeakyReLU, optional norm)",
    citation='Goodfellow et al. 2014')
def mlp_discriminator(data_shape, num_classes, hidden: Positive = 256, layers: Positive = 3, norm: Norm = "none"):
    return MLPDiscriminator(_vector_dim(data_shape, "discriminator"), hidden, layers, norm)
