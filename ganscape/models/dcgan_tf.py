"""The DCGAN of the DCGAN-TensorFlow code (T. Kim's port of Radford et al. 2016), which PacGAN's Stacked MNIST
Table 2 ran, as did VEEGAN's (Lin et al. 2018; Srivastava et al. 2017).

G: linear(z -> s16 x s16 x 8 ngf), reshaped, batch norm per channel + ReLU; three 5x5 stride-2 transposed convs to
4 ngf, 2 ngf and ngf channels, each with batch norm + ReLU; a last one to the image channels; tanh.
D: four 5x5 stride-2 convs of ndf, 2 ndf, 4 ndf and 8 ndf channels, each followed by LeakyReLU 0.2, with batch norm
after all but the first; linear(flattened -> 1).

Feature sizes and alignment follow TensorFlow's "SAME" padding: s_i = ceil(S / 2^i) (28 px: 14, 7, 4, 2), and where
a conv needs an odd number of padding rows the extra one goes after (28 -> 14 pads 1 before and 2 after); a
transposed conv is the exact adjoint of that conv. This differs from ``dcgan`` (4x4 kernels, sizes 4 * 2^k or
7 * 2^k, convs in place of the linear layers): at 28 px ``dcgan``'s D has two strided convs, the PacGAN code's four.
Initialisation as in that code: convs truncated normal (std 0.02, cut at 2 std), transposed convs and linear layers
normal (std 0.02), biases 0, batch-norm scales 1. Batch norm: eps 1e-5, running statistics momentum 0.1 (TensorFlow's
decay 0.9), used when sampling (they move at each training-mode call of G: twice a step with two G steps, where the
code also moves them in its loss evaluations); ``bn_groups`` takes G's per PacGAN packing slot.

Pixel range: the PacGAN code trains on digits scaled to [0, 1] (X / 255) with a tanh G, so its G may draw negative
pixels and the background sits at the middle of tanh's range, where ganscape's [-1, 1] images put it at the edge.
``value_range: unit`` on both networks trains in the code's range: G's tanh output is read as an image in [0, 1]
(2 tanh - 1 in ganscape's range, so down to -3) and D scores images mapped to [0, 1] ((x + 1) / 2). ``signed``
(the default) keeps ganscape's range."""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ganscape.models.base import DISCRIMINATORS, GENERATORS, GeneratorNet, SequentialCritic
from ganscape.models.slot_norm import InterleavedBatchNorm2d
from ganscape.models.sndcgan import ceil_halves, square_size
from ganscape.registry import Positive

KERNEL, STRIDE = 5, 2
HALVINGS = 4  # strided layers in G and in D
WIDTHS = (1, 2, 4, 8)  # x ndf in D; G's, from the image up: x ngf
MIN_SIZE = 2 ** HALVINGS
INIT_STD = 0.02
ValueRange = Literal["signed", "unit"]


def same_padding(size_in: int, size_out: int) -> tuple[int, int]:
    """(before, after) padding of a KERNEL x KERNEL, stride-2 'SAME' conv from ``size_in`` to ``size_out`` =
    ceil(size_in / 2) px: TensorFlow's total max((out - 1) * stride + kernel - in, 0), the odd row after."""
    total = max((size_out - 1) * STRIDE + KERNEL - size_in, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """5x5 stride-2 conv with TensorFlow 'SAME' padding: x (B, C, S, S) -> (B, C', ceil(S/2), ceil(S/2))."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(c_in, c_out, KERNEL, STRIDE, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        before, after = same_padding(x.shape[-1], -(-x.shape[-1] // STRIDE))
        return super().forward(F.pad(x, (before, after, before, after)))


class SameConvTranspose2d(nn.ConvTranspose2d):
    """The adjoint of a ``SameConv2d`` that maps ``size`` px to the input's size: x (B, C, s, s) ->
    (B, C', size, size), ``size`` in (2s - 1, 2s)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(c_in, c_out, KERNEL, STRIDE, padding=0)

    def forward(self, x: torch.Tensor, size: int) -> torch.Tensor:
        before, _ = same_padding(size, x.shape[-1])
        return super().forward(x)[:, :, before:before + size, before:before + size]


def tensorflow_init(module: nn.Module) -> None:
    """The DCGAN-TensorFlow code's initialisers (module docstring)."""
    for m in module.modules():
        if isinstance(m, (nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, INIT_STD)
        elif isinstance(m, nn.Conv2d):
            nn.init.trunc_normal_(m.weight, 0.0, INIT_STD, -2 * INIT_STD, 2 * INIT_STD)
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.zeros_(m.bias)


class ToUnitRange(nn.Module):
    """Images in ganscape's [-1, 1] -> the [0, 1] of the DCGAN-TensorFlow code's data."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + 1) / 2


class DCGANTFGenerator(GeneratorNet):
    """z (B, z_dim) -> (B, C, S, S) in [-1, 1] (``value_range: unit``: in [-3, 1], see the module docstring)."""

    def __init__(self, z_dim: int, channels: int, size: int, ngf: int, bn_groups: int = 1,
                 value_range: ValueRange = "signed"):
        super().__init__()
        self.unit_range = value_range == "unit"
        self.sizes = ceil_halves(size, HALVINGS)  # [s16, s8, s4, s2, S]
        self.widths = [ngf * m for m in reversed(WIDTHS)]  # [8 ngf, 4 ngf, 2 ngf, ngf]
        self.fc = nn.Linear(z_dim, self.widths[0] * self.sizes[0] ** 2)
        self.norms = nn.ModuleList(InterleavedBatchNorm2d(width, 0.1, bn_groups) for width in self.widths)
        self.deconvs = nn.ModuleList(SameConvTranspose2d(c_in, c_out)
                                     for c_in, c_out in zip(self.widths, [*self.widths[1:], channels]))
        tensorflow_init(self)

    def forward(self, z, y=None):
        h = self.fc(z).reshape(z.shape[0], self.widths[0], self.sizes[0], self.sizes[0])
        h = self.norms[0](h).relu()
        for deconv, norm, size in zip(self.deconvs[:-1], self.norms[1:], self.sizes[1:]):
            h = norm(deconv(h, size)).relu()
        x = self.deconvs[-1](h, self.sizes[-1]).tanh()
        return x * 2 - 1 if self.unit_range else x


class DCGANTFDiscriminator(SequentialCritic):
    """x (B, C, S, S) -> (B,) scores."""

    def __init__(self, channels: int, size: int, ndf: int, value_range: ValueRange = "signed"):
        super().__init__()
        self.input_range = ToUnitRange() if value_range == "unit" else nn.Identity()
        layers, c_in = [], channels
        for i, multiplier in enumerate(WIDTHS):
            c_out = ndf * multiplier
            layers += [SameConv2d(c_in, c_out), nn.BatchNorm2d(c_out) if i else nn.Identity(), nn.LeakyReLU(0.2)]
            c_in = c_out
        last = ceil_halves(size, HALVINGS)[0]
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * last * last, 1))
        tensorflow_init(self)

    def forward(self, x, y=None):
        return super().forward(self.input_range(x))

    def features(self, x, y=None):
        return super().features(self.input_range(x))


@GENERATORS.register("dcgan_tf", "DCGAN of the DCGAN-TensorFlow code (PacGAN/VEEGAN Stacked MNIST Table 2): linear, "
                     "four 5x5 stride-2 transposed convs, BN, ReLU, tanh; any square size >= 16",
    citation='Radford et al. 2016 (DCGAN); Lin et al. 2018, "PacGAN", Table 2', reference_shape=(3, 28, 28))
def dcgan_tf_generator(data_shape, z_dim, num_classes, ngf: Positive = 64, bn_groups: Positive = 1,
                       value_range: ValueRange = "signed"):
    """``bn_groups`` m: batch-norm statistics per PacGAN-m packing slot (``ganscape.models.slot_norm``), as the PacGAN
    code's m generator calls for a PacDCGAN-m batch. ``value_range: unit``: tanh output read as [0, 1] pixels, as
    in the code (module docstring)."""
    size = square_size(data_shape, "generator", "dcgan_tf", MIN_SIZE)
    return DCGANTFGenerator(z_dim, data_shape[0], size, ngf, bn_groups, value_range)


@DISCRIMINATORS.register("dcgan_tf", "DCGAN D of the DCGAN-TensorFlow code (PacGAN/VEEGAN Stacked MNIST Table 2): "
                         "four 5x5 stride-2 convs, BN, LeakyReLU 0.2, linear; any square size >= 16",
    citation='Radford et al. 2016 (DCGAN); Lin et al. 2018, "PacGAN", Table 2', reference_shape=(3, 28, 28))
def dcgan_tf_discriminator(data_shape, num_classes, ndf: Positive = 64, value_range: ValueRange = "signed"):
    """``value_range: unit``: scores images mapped to [0, 1], the code's data range (module docstring)."""
    size = square_size(data_shape, "discriminator", "dcgan_tf", MIN_SIZE)
    return DCGANTFDiscriminator(data_shape[0], size, ndf, value_range)
