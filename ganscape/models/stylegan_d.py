"""The StyleGAN2 residual discriminator (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN";
minibatch standard deviation from Karras et al. 2019), registered ``stylegan``: the match of the StyleGAN-style
generator of ``ganscape.models.stylegan``, with the same equalised-learning-rate layers. See ``StyleDiscriminator``."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganscape.models.base import DISCRIMINATORS, CriticNet
from ganscape.models.stylegan import EqualConv2d, EqualLinear
from ganscape.registry import ConfigError, Count, Positive

SQRT2 = math.sqrt(2)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU(0.2) times sqrt(2), the activation gain that keeps unit variance (StyleGAN2's ``def_gain``)."""
    return F.leaky_relu(x, 0.2) * SQRT2


def minibatch_stddev(x: torch.Tensor, group_size: int) -> torch.Tensor:
    """Append one feature map to x (B, C, H, W): per group of samples, the standard deviation over the group of every
    feature and pixel (population, sqrt(var + 1e-8)), averaged over C, H, W, repeated over H, W.

    Groups are strided as in the reference (x.reshape(G, B / G, ...)): sample i is in group i mod (B / G). The group
    size is G = min(group_size, B) when it divides B; otherwise (the reference requires B % G == 0) the whole batch is
    one group, so any batch (an evaluation's last one, a packed or sharded one) is scored, and every sample still sees
    a spread over other samples. A batch of one gets sqrt(1e-8)."""
    b, c, h, w = x.shape
    g = min(group_size, b)
    if b % g:
        g = b
    y = x.reshape(g, b // g, c, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()   # (B/G, C, H, W)
    y = y.mean(dim=(1, 2, 3)).repeat(g)                               # (B,): row i is group i mod (B/G)
    return torch.cat([x, y[:, None, None, None].expand(b, 1, h, w)], dim=1)


def conv_then_pool(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """avg_pool2d(conv2d(x, weight, padding=1), 2) for a 3x3 weight, computed at the output resolution: one stride-2
    conv with the 4x4 kernel that is the 3x3 one box-filtered (StyleGAN's fused conv + downscale), 4/9 of the work."""
    w = F.pad(weight, (1, 1, 1, 1))
    w = (w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]) * 0.25
    return F.conv2d(x, w, stride=2, padding=1)


class DConv(nn.Module):
    """Equalised-lr conv (k x k, same padding) [-> 2x2 average pool] -> + bias -> LeakyReLU(0.2) x sqrt(2)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, down: bool = False):
        super().__init__()
        if down and kernel != 3:
            raise ValueError("DConv: downsampling is implemented for 3x3 kernels")
        self.conv = EqualConv2d(c_in, c_out, kernel, gain=1.0)
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.down = down

    def forward(self, x):
        if self.down:
            x = conv_then_pool(x, self.conv.weight * self.conv.scale)
        else:
            x = self.conv(x)
        return lrelu(x + self.bias[None, :, None, None])


class StyleDBlock(nn.Module):
    """Residual down-block: (skip + main) / sqrt(2), main = conv3 (c_in) -> conv3 (c_out) + down, skip = down ->
    1x1 conv (no bias, linear)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv0 = DConv(c_in, c_in, 3)
        self.conv1 = DConv(c_in, c_out, 3, down=True)
        self.skip = EqualConv2d(c_in, c_out, 1, gain=1.0)

    def forward(self, x):
        return (self.skip(F.avg_pool2d(x, 2)) + self.conv1(self.conv0(x))) / SQRT2


class StyleDiscriminator(CriticNet):
    """The StyleGAN2 residual discriminator (Karras et al. 2020, config E/F 'resnet' D; NVlabs stylegan2-ada-pytorch
    training/networks.py), with equalised learning rate everywhere:

    fromRGB (1x1 conv, S px) -> one StyleDBlock per resolution S, S/2, ..., 8 (each halves it) -> at 4x4: minibatch
    standard deviation (group ``mbstd_group``, one feature map; 0 leaves it out) -> conv3 -> dense (C_4) -> dense (1).
    Every hidden layer is followed by LeakyReLU(0.2) x sqrt(2). Channels at resolution r: min(fmap_max, fmap_base // r)
    as in the generator. Downsampling is 2x2 average pooling (the reference blurs with [1, 3, 3, 1] first; the
    generator here leaves its blur out too). Unconditional: labels are ignored. ``features`` (x, y) -> (B, C_4) is
    the output of the first dense layer; it depends on the other samples of the batch through the minibatch standard
    deviation unless ``mbstd_group`` is 0."""

    def __init__(self, channels: int, size: int, fmap_base: int, fmap_max: int, mbstd_group: int):
        super().__init__()
        resolutions = [size >> k for k in range(int(math.log2(size)) - 1)]  # S, S/2, ..., 4
        width = {r: min(fmap_max, fmap_base // r) for r in resolutions}
        self.mbstd_group = mbstd_group
        self.from_rgb = DConv(channels, width[size], 1)
        self.blocks = nn.Sequential(*(StyleDBlock(width[r], width[r // 2]) for r in resolutions[:-1]))
        self.conv = DConv(width[4] + (1 if mbstd_group else 0), width[4], 3)
        self.fc = EqualLinear(width[4] * 16, width[4], gain=1.0)
        self.out = EqualLinear(width[4], 1, gain=1.0)

    def features(self, x, y=None):
        h = self.blocks(self.from_rgb(x))
        if self.mbstd_group:
            h = minibatch_stddev(h, self.mbstd_group)
        return lrelu(self.fc(self.conv(h).flatten(1)))

    def forward(self, x, y=None):
        if self.out is None:
            raise TypeError("this StyleGAN discriminator is used as an encoder (as_encoder): it has no score layer")
        return self.out(self.features(x, y)).reshape(x.shape[0])

    def as_encoder(self) -> "StyleDiscriminator":
        """Drop the score layer (its weights are not trained as part of an encoder)."""
        self.out = None
        return self


def stylegan_d_size(data_shape, fmap_base: int) -> int:
    """The image size S of (C, S, S) with S a power of two >= 4 that fmap_base can give channels; else ConfigError."""
    if len(data_shape) != 3 or data_shape[1] != data_shape[2] or data_shape[1] < 4 or data_shape[1] & (data_shape[1] - 1):
        raise ConfigError(f"discriminator.name: 'stylegan' cannot score samples of shape {tuple(data_shape)}; it needs "
                          "square images (C, S, S) with S a power of two >= 4 (4, 8, 16, 32, 64, ...)")
    if fmap_base < data_shape[1]:
        raise ConfigError(f"discriminator.fmap_base: must be >= the image size {data_shape[1]}, got {fmap_base}")
    return data_shape[1]


@DISCRIMINATORS.register("stylegan", "StyleGAN2 residual discriminator (equalised lr, fromRGB, residual down-blocks, "
    "minibatch stddev); square powers of two >= 4",
    citation='Karras et al. 2019, "A Style-Based Generator Architecture for GANs"; Karras et al. 2020, '
             '"Analyzing and Improving the Image Quality of StyleGAN" (resnet D)', reference_shape=(3, 64, 64))
def stylegan_discriminator(data_shape, num_classes, fmap_base: Positive = 2048, fmap_max: Positive = 128,
                           mbstd_group: Count = 4):
    """Unconditional (labels are ignored). Channels at resolution r: min(fmap_max, fmap_base // r) (StyleGAN2 at
    1024 px: fmap_base 32768, fmap_max 512). ``mbstd_group``: minibatch-stddev group size (0 = no such layer)."""
    size = stylegan_d_size(data_shape, fmap_base)
    return StyleDiscriminator(data_shape[0], size, fmap_base, fmap_max, mbstd_group)
