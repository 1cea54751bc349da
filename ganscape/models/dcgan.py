"""DCGAN (Radford et al. 2016), generalised to any size base * 2^k (base 4 or 7).

Generator: ConvT(z -> C0, base) + BN + ReLU, then stride-2 ConvT(4,2,1) blocks halving channels, last ConvT to the
image channels + tanh. Discriminator mirrors it with LeakyReLU(0.2) and (by default) batch norm from the second
block on."""
from __future__ import annotations

from torch import nn

from ganscape.models.base import (DISCRIMINATORS, GENERATORS, GeneratorNet, Norm, SequentialCritic, dcgan_init,
                                  feature_norm, maybe_spectral)
from ganscape.registry import ConfigError, Positive

BASES = (4, 7)


def upsampling_plan(data_shape: tuple[int, ...], who: str) -> tuple[int, int]:
    """Return (base, k) with size == base * 2**k, k >= 1, or raise a ConfigError."""
    if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
        raise ConfigError(f"{who}.name: 'dcgan' needs square images (C, S, S), got samples of shape {data_shape}")
    size = data_shape[1]
    for base in BASES:
        k, s = 0, size
        while s > base and s % 2 == 0:
            s, k = s // 2, k + 1
        if s == base and k >= 1:
            return base, k
    raise ConfigError(f"{who}.name: 'dcgan' cannot make {size} px images; sizes must be 4*2^k or 7*2^k with "
                      "k >= 1 (e.g. 8, 14, 16, 28, 32, 56, 64, 128); set data.size accordingly")


def dcgan_critic_body(channels: int, k: int, ndf: int, norm: Norm, inplace: bool) -> tuple[list[nn.Module], int]:
    """The k stride-2 conv blocks of the DCGAN discriminator (ndf channels, doubling) -> (layers, last width)."""
    layers = [maybe_spectral(nn.Conv2d(channels, ndf, 4, 2, 1, bias=norm == "spectral"), norm),
              nn.LeakyReLU(0.2, inplace)]
    width = ndf
    for _ in range(k - 1):
        layers += [maybe_spectral(nn.Conv2d(width, width * 2, 4, 2, 1, bias=norm in ("none", "spectral")), norm),
                   feature_norm(norm, width * 2), nn.LeakyReLU(0.2, inplace)]
        width *= 2
    return layers, width


class DCGANGenerator(GeneratorNet):
    def __init__(self, z_dim: int, channels: int, base: int, k: int, ngf: int):
        super().__init__()
        width = ngf * 2 ** (k - 1)
        layers = [nn.ConvTranspose2d(z_dim, width, base, 1, 0, bias=False), nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(k - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z, y=None):
        """z: (B, z_dim) -> (B, C, S, S) in [-1, 1]."""
        return self.net(z.reshape(z.shape[0], z.shape[1], 1, 1))


class DCGANDiscriminator(SequentialCritic):
    """x: (B, C, S, S) -> (B,) scores."""

    def __init__(self, channels: int, base: int, k: int, ndf: int, norm: Norm):
        super().__init__()
        layers, width = dcgan_critic_body(channels, k, ndf, norm, inplace=True)
        self.net = nn.Sequential(*layers, maybe_spectral(nn.Conv2d(width, 1, base, 1, 0, bias=False), norm))
        dcgan_init(self)


@GENERATORS.register("dcgan", "DCGAN generator (transposed convs, BN, ReLU, tanh); sizes 4*2^k or 7*2^k",
    citation='Radford et al. 2016, "Unsupervised Representation Learning with DCGANs"')
def dcgan_generator(data_shape, z_dim, num_classes, ngf: Positive = 64):
    base, k = upsampling_plan(data_shape, "generator")
    return DCGANGenerator(z_dim, data_shape[0], base, k, ngf)


@DISCRIMINATORS.register("dcgan", "DCGAN discriminator (strided convs, LeakyReLU 0.2; norm batch|layer|spectral|none)",
    citation='Radford et al. 2016, "Unsupervised Representation Learning with DCGANs"')
def dcgan_discriminator(data_shape, num_classes, ndf: Positive = 64, norm: Norm = "batch"):
    base, k = upsampling_plan(data_shape, "discriminator")
    return DCGANDiscriminator(data_shape[0], base, k, ndf, norm)
