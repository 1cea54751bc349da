"""ResNet generators and discriminators of the "GAN landscape" study (google/compare_gan).

Residual block (compare_gan resnet_ops): shortcut = conv3(up(x)) or pool(conv3(x)) (a 3x3 conv even when the shape
is kept); main path = norm, ReLU, [up], conv3, norm, ReLU, conv3, [pool]. G blocks upsample before their first conv
by ``unpool`` (each pixel goes to the top-left of a 2x2 cell, zeros elsewhere, as compare_gan) or ``nearest``; D
blocks average-pool after the second conv (a 1x1 map is left as is, as TensorFlow's "SAME" pooling does).

- ``resnet_cifar`` (SN-GAN Table 4): G linear(z -> 4x4x256), up-blocks of 256 channels, BN, ReLU, conv3, tanh; D
  blocks of 128 (down, down, none, none at 32 px), ReLU, mean pool, linear. The reference is 32 px; other sizes
  4*2^k change the number of up/down blocks.
- ``resnet19`` (128 px; compare_gan resnet5): G ch=64 with channel multipliers (8, 8, 4, 4, 2, 1) over 5 blocks (the
  first log2(S/4) upsample); D a down-block to ch then 5 down-blocks with multipliers (1, 2, 4, 4, 8, 8)."""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ganscape.models.base import DISCRIMINATORS, GENERATORS, GeneratorNet, Norm, dcgan_init, feature_norm, maybe_spectral
from ganscape.models.conditional import Conditioning, ConditionalCritic, GeneratorNorm, conditional_classes, make_head
from ganscape.registry import ConfigError, Positive

Upsample = Literal["unpool", "nearest"]
R19_G_MULT = (8, 8, 4, 4, 2, 1)
R19_D_MULT = (1, 2, 4, 4, 8, 8)


def power_of_two_size(data_shape: tuple[int, ...], who: str, name: str, lo: int, hi: int) -> int:
    """Side S of (C, S, S) images with S a power of two in [lo, hi], or a ConfigError listing them."""
    allowed = [2 ** k for k in range(int(math.log2(lo)), int(math.log2(hi)) + 1)]
    if len(data_shape) != 3 or data_shape[1] != data_shape[2] or data_shape[1] not in allowed:
        raise ConfigError(f"{who}.name: {name!r} cannot handle samples of shape {data_shape}; it needs square "
                          f"images (C, S, S) with S one of {', '.join(map(str, allowed))}")
    return data_shape[1]


def upsample(x: torch.Tensor, mode: Upsample) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, 2H, 2W) by zero-insertion unpooling or nearest neighbour."""
    if mode == "nearest":
        return F.interpolate(x, scale_factor=2, mode="nearest")
    out = x.new_zeros(x.shape[0], x.shape[1], x.shape[2], 2, x.shape[3], 2)
    out[:, :, :, 0, :, 0] = x
    return out.reshape(x.shape[0], x.shape[1], 2 * x.shape[2], 2 * x.shape[3])


def downsample(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2) if x.shape[-1] > 1 else x


class GBlock(nn.Module):
    """Generator residual block (B, C_in, H, W) -> (B, C_out, 2H or H, ...); norms see y."""

    def __init__(self, c_in: int, c_out: int, up: bool, norm: Literal["batch", "none"], num_classes: int,
                 upsampling: Upsample):
        super().__init__()
        self.up, self.upsampling = up, upsampling
        self.shortcut = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.norm1 = GeneratorNorm(norm, c_in, num_classes)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.norm2 = GeneratorNorm(norm, c_out, num_classes)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)

    def forward(self, x, y=None):
        scale = (lambda t: upsample(t, self.upsampling)) if self.up else (lambda t: t)
        h = self.conv1(scale(self.norm1(x, y).relu()))
        h = self.conv2(self.norm2(h, y).relu())
        return h + self.shortcut(scale(x))


class DBlock(nn.Module):
    """Discriminator residual block (B, C_in, H, W) -> (B, C_out, H/2 or H, ...)."""

    def __init__(self, c_in: int, c_out: int, down: bool, norm: Norm):
        super().__init__()
        self.down = down
        self.shortcut = maybe_spectral(nn.Conv2d(c_in, c_out, 3, 1, 1), norm)
        self.norm1 = feature_norm(norm, c_in)
        self.conv1 = maybe_spectral(nn.Conv2d(c_in, c_out, 3, 1, 1), norm)
        self.norm2 = feature_norm(norm, c_out)
        self.conv2 = maybe_spectral(nn.Conv2d(c_out, c_out, 3, 1, 1), norm)

    def forward(self, x):
        h = self.conv2(self.norm2(self.conv1(self.norm1(x).relu())).relu())
        skip = self.shortcut(x)
        return (downsample(h) + downsample(skip)) if self.down else h + skip


class ResNetGenerator(GeneratorNet):
    """z (B, z_dim), y (B,) or None -> (B, C, S, S) in [-1, 1].

    ``widths`` has one more entry than there are blocks: block i maps widths[i] -> widths[i+1]; the first ``n_up``
    blocks upsample from the 4x4 seed."""

    def __init__(self, z_dim: int, channels: int, widths: list[int], n_up: int, norm: Literal["batch", "none"],
                 num_classes: int, upsampling: Upsample):
        super().__init__()
        self.num_classes, self.seed_width = num_classes, widths[0]
        self.fc = nn.Linear(z_dim, widths[0] * 16)
        self.blocks = nn.ModuleList(GBlock(a, b, i < n_up, norm, num_classes, upsampling)
                                    for i, (a, b) in enumerate(zip(widths, widths[1:])))
        self.final_norm = GeneratorNorm(norm, widths[-1], num_classes)
        self.to_image = nn.Conv2d(widths[-1], channels, 3, 1, 1)
        dcgan_init(self)

    def forward(self, z, y=None):
        h = self.fc(z).reshape(z.shape[0], self.seed_width, 4, 4)
        for block in self.blocks:
            h = block(h, y)
        return self.to_image(self.final_norm(h, y).relu()).tanh()


class ResNetDiscriminator(ConditionalCritic):
    """x (B, C, S, S), y (B,) or None -> (B,) scores; h = ReLU then spatial mean (B, F)."""

    def __init__(self, channels: int, widths: list[int], downs: list[bool], norm: Norm, num_classes: int,
                 conditioning: Conditioning):
        super().__init__()
        ins = [channels] + widths[:-1]
        self.blocks = nn.Sequential(*(DBlock(a, b, d, norm) for a, b, d in zip(ins, widths, downs)))
        self.set_head(make_head(widths[-1], num_classes, conditioning, norm, "discriminator"))
        dcgan_init(self)

    def features(self, x, y=None):
        return self.blocks(x).relu().mean(dim=(2, 3))


@GENERATORS.register("resnet_cifar", "ResNet-CIFAR generator (SN-GAN/compare_gan, 256 ch); sizes 8..128, 32 the reference",
    citation='Gulrajani et al. 2017; Miyato et al. 2018 (Table 4)', reference_shape=(3, 32, 32))
def resnet_cifar_generator(data_shape, z_dim, num_classes, ch: Positive = 256, norm: Literal["batch", "none"] = "batch",
                           conditional: bool = False, upsampling: Upsample = "unpool"):
    size = power_of_two_size(data_shape, "generator", "resnet_cifar", 8, 128)
    n_up = int(math.log2(size // 4))
    classes = conditional_classes(conditional, num_classes, "generator.conditional")
    return ResNetGenerator(z_dim, data_shape[0], [ch] * (n_up + 1), n_up, norm, classes, upsampling)


@DISCRIMINATORS.register("resnet_cifar", "ResNet-CIFAR discriminator (4 blocks of 128; 2 down at 32 px); sizes 8..128",
    citation='Gulrajani et al. 2017; Miyato et al. 2018 (Table 4)', reference_shape=(3, 32, 32))
def resnet_cifar_discriminator(data_shape, num_classes, ch: Positive = 128, norm: Norm = "spectral",
                               conditioning: Conditioning = "none"):
    size = power_of_two_size(data_shape, "discriminator", "resnet_cifar", 8, 128)
    downs = [True] * int(math.log2(size // 8)) + [False] * 2
    return ResNetDiscriminator(data_shape[0], [ch] * len(downs), downs, norm, num_classes, conditioning)


@GENERATORS.register("resnet19", "ResNet19 generator (compare_gan resnet5, ch 64 x (8,8,4,4,2,1)); sizes 8..128, 128 the reference",
    citation='Kurach et al. 2019, "A Large-Scale Study of Regularization and Normalization in GANs"', reference_shape=(3, 128, 128))
def resnet19_generator(data_shape, z_dim, num_classes, ch: Positive = 64, norm: Literal["batch", "none"] = "batch",
                       conditional: bool = False, upsampling: Upsample = "unpool"):
    size = power_of_two_size(data_shape, "generator", "resnet19", 8, 128)
    classes = conditional_classes(conditional, num_classes, "generator.conditional")
    return ResNetGenerator(z_dim, data_shape[0], [ch * m for m in R19_G_MULT], int(math.log2(size // 4)), norm,
                           classes, upsampling)


@DISCRIMINATORS.register("resnet19", "ResNet19 discriminator (6 down-blocks, ch 64 x (1,2,4,4,8,8)); sizes 8..128",
    citation='Kurach et al. 2019, "A Large-Scale Study of Regularization and Normalization in GANs"', reference_shape=(3, 128, 128))
def resnet19_discriminator(data_shape, num_classes, ch: Positive = 64, norm: Norm = "spectral",
                           conditioning: Conditioning = "none"):
    power_of_two_size(data_shape, "discriminator", "resnet19", 8, 128)
    widths = [ch * m for m in R19_D_MULT]
    return ResNetDiscriminator(data_shape[0], widths, [True] * len(widths), norm, num_classes, conditioning)
