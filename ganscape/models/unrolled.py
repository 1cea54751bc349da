"""The weak discriminator of Unrolled GAN's Stacked MNIST experiment (Metz et al. 2017), as PacGAN's Table 3 ran it
(Lin et al. 2018).

Three 3x3 stride-2 convs of ``ndf``, 2 ``ndf`` and 4 ``ndf`` channels, each followed by batch norm and LeakyReLU
0.3, then linear(flattened -> 1). Feature sizes follow TensorFlow's "SAME" padding: ceil(S/2), ceil(S/4), ceil(S/8)
(28 px: 14, 7, 4). ``ndf`` 2 is the setting the papers call "D is 1/4 the size of G", 4 "1/2 the size", both against
the generator ``sndcgan`` with ``ch: 8, kernel: 3, first_norm: channel`` (widths 64, 32, 16, 8). With ``ndf`` 2 an
unpacked DCGAN drops most of the 1,000 modes (docs/results.md, PacGAN Table 3); packing (``pack: 2``) is what PacGAN
sets against it."""
from __future__ import annotations

from torch import nn

from ganscape.models.base import DISCRIMINATORS, SequentialCritic, dcgan_init
from ganscape.models.sndcgan import ceil_halves, square_size
from ganscape.registry import Positive

STRIDED_CONVS = 3
MIN_SIZE = 8


class UnrolledDiscriminator(SequentialCritic):
    """x (B, C, S, S) -> (B,) scores."""

    def __init__(self, channels: int, size: int, ndf: int, slope: float):
        super().__init__()
        layers, c_in = [], channels
        for i in range(STRIDED_CONVS):
            c_out = ndf * 2 ** i
            layers += [nn.Conv2d(c_in, c_out, 3, 2, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(slope)]
            c_in = c_out
        last = ceil_halves(size, STRIDED_CONVS)[0]
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * last * last, 1))
        dcgan_init(self)


@DISCRIMINATORS.register("unrolled", "Unrolled GAN's weak Stacked MNIST D (3 conv3 stride 2 + BN + LeakyReLU 0.3, "
                         "linear); ndf 2 = 'D 1/4 the size of G', 4 = '1/2'",
    citation='Metz et al. 2017, "Unrolled GANs" (Stacked MNIST); Lin et al. 2018, "PacGAN", Table 3',
    reference_shape=(3, 28, 28))
def unrolled_discriminator(data_shape, num_classes, ndf: Positive = 2, slope: float = 0.3):
    """``slope``: the LeakyReLU's negative slope (0.3 in the PacGAN code)."""
    size = square_size(data_shape, "discriminator", "unrolled", MIN_SIZE)
    return UnrolledDiscriminator(data_shape[0], size, ndf, slope)
