"""Multi-layer perceptrons for vector (toy 2-D) data."""
from __future__ import annotations

from torch import nn

from ganscape.models.base import (DISCRIMINATORS, GENERATORS, GeneratorNet, Norm, SequentialCritic, feature_norm,
                                  maybe_spectral)
from ganscape.registry import ConfigError, Positive


def _vector_dim(data_shape: tuple[int, ...], who: str) -> int:
    if len(data_shape) != 1:
        raise ConfigError(f"{who}.name: 'mlp' is for vector data, got samples of shape {data_shape}; "
                          "use an image architecture (e.g. dcgan)")
    return data_shape[0]


class MLPGenerator(GeneratorNet):
    def __init__(self, z_dim: int, out_dim: int, hidden: int, layers: int):
        super().__init__()
        blocks, width = [], z_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.net = nn.Sequential(*blocks, nn.Linear(width, out_dim))

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


@GENERATORS.register("mlp", "MLP generator for vector data (ReLU hidden layers)", citation='Goodfellow et al. 2014')
def mlp_generator(data_shape, z_dim, num_classes, hidden: Positive = 256, layers: Positive = 3):
    return MLPGenerator(z_dim, _vector_dim(data_shape, "generator"), hidden, layers)


@DISCRIMINATORS.register("mlp", "MLP discriminator for vector data (LeakyReLU, optional norm)",
    citation='Goodfellow et al. 2014')
def mlp_discriminator(data_shape, num_classes, hidden: Positive = 256, layers: Positive = 3, norm: Norm = "none"):
    return MLPDiscriminator(_vector_dim(data_shape, "discriminator"), hidden, layers, norm)
