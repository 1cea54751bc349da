"""Multi-layer perceptrons for vector (toy 2-D) data, and the linear-maxout discriminator of the PacGAN/VEEGAN/ALI toy
experiments."""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ganscape.models.base import (DISCRIMINATORS, GENERATORS, GeneratorNet, Norm, SequentialCritic, feature_norm,
                                  maybe_spectral)
from ganscape.models.slot_norm import InterleavedBatchNorm1d
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
