"""SNDCGAN (Miyato et al. 2018) as used in the "GAN landscape" study (google/compare_gan).

G: linear(z -> s8 x s8 x 512) + BN + ReLU; three deconv(4, stride 2) to 256, 128, 64 channels with BN + ReLU;
deconv(3, stride 1) to the image channels; tanh. s8 = ceil(S / 8); a stride-2 deconv doubles the size and is
cropped to ceil(S / 2^i), as TensorFlow's "SAME" output shapes.
D: conv3(64), conv4s2(128), conv3(128), conv4s2(256), conv3(256), conv4s2(512), conv3(512), each followed by
LeakyReLU(0.1), then linear(flattened -> 1). Spectral norm by default; ``norm: batch|layer`` puts that norm after
every conv but the first (compare_gan's SNDCGAN D has no feature norm; the option is ours, for the study's
normalisation axis).
Any square size >= 8 works (e.g. 28, 32, 48, 64, 128). The widths above are for ``ch`` = 64 (the reference);
``ch`` scales all of them (G: 8ch, 4ch, 2ch, ch; D: ch .. 8ch). G's ``kernel: 3`` makes its deconvs 3x3 (still
"SAME" sizes): with ``ch`` 8 that is the generator of Unrolled GAN's Stacked MNIST experiment (widths 64, 32, 16, 8;
PacGAN Table 3). G's first BN normalises each of the linear layer's s8 x s8 x 8ch outputs (``first_norm: feature``,
compare_gan's); ``first_norm: channel`` normalises each of its 8ch channels over the batch and the s8 x s8 positions,
as the DCGAN-TensorFlow code behind PacGAN's Table 3 does (a BN on the reshaped map)."""
from __future__ import annotations

from typing import Literal

from torch import nn

from ganscape.models.base import DISCRIMINATORS, GENERATORS, GeneratorNet, Norm, dcgan_init, feature_norm, maybe_spectral
from ganscape.models.conditional import Conditioning, ConditionalCritic, GeneratorNorm, conditional_classes, make_head
from ganscape.registry import ConfigError, Positive

G_MULTIPLIERS = (8, 4, 2, 1)  # x ch: 512, 256, 128, 64 at the reference ch = 64
D_PLAN = ((1, 3, 1), (2, 4, 2), (2, 3, 1), (4, 4, 2), (4, 3, 1), (8, 4, 2), (8, 3, 1))  # (x ch, kernel, stride)
MIN_SIZE = 8


def square_size(data_shape: tuple[int, ...], who: str, name: str, min_size: int) -> int:
    """The side S of (C, S, S) image shapes of at least ``min_size`` px, or a ConfigError."""
    if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
        raise ConfigError(f"{who}.name: {name!r} needs square images (C, S, S), got samples of shape {data_shape}")
    if data_shape[1] < min_size:
        raise ConfigError(f"{who}.name: {name!r} needs images of at least {min_size} px, got {data_shape[1]}")
    return data_shape[1]


def ceil_halves(size: int, times: int) -> list[int]:
    """[ceil(S/2^times), ..., ceil(S/2), S]: the feature sizes of a 'SAME'-padded decoder."""
    return [-(-size // 2 ** i) for i in range(times, -1, -1)]


class SNDCGANGenerator(GeneratorNet):
    """z (B, z_dim), y (B,) or None -> (B, C, S, S) in [-1, 1]."""

    def __init__(self, z_dim: int, channels: int, size: int, norm: Literal["batch", "none"], num_classes: int,
                 ch: int = 64, kernel: int = 4, first_norm: Literal["feature", "channel"] = "feature"):
        super().__init__()
        self.num_classes, self.first_norm = num_classes, first_norm
        self.sizes = ceil_halves(size, 3)
        self.widths = widths = [ch * m for m in G_MULTIPLIERS]
        first = widths[0] * self.sizes[0] ** 2
        self.fc = nn.Linear(z_dim, first)
        self.norms = nn.ModuleList([GeneratorNorm(norm, first if first_norm == "feature" else widths[0], num_classes)])
        self.deconvs = nn.ModuleList()
        for c_in, c_out in zip(widths, widths[1:]):
            # padding 1 and output_padding kernel % 2: the output is 2x the input, cropped to 'SAME' in forward
            self.deconvs.append(nn.ConvTranspose2d(c_in, c_out, kernel, 2, 1, output_padding=kernel % 2))
            self.norms.append(GeneratorNorm(norm, c_out, num_classes))
        self.to_image = nn.Conv2d(widths[-1], channels, 3, 1, 1)  # = deconv3 stride 1 up to a flip
        dcgan_init(self)

    def forward(self, z, y=None):
        shape = (z.shape[0], self.widths[0], self.sizes[0], self.sizes[0])
        if self.first_norm == "feature":
            h = self.norms[0](self.fc(z), y).relu().reshape(shape)
        else:
            h = self.norms[0](self.fc(z).reshape(shape), y).relu()
        for deconv, norm, size in zip(self.deconvs, self.norms[1:], self.sizes[1:]):
            h = norm(deconv(h)[:, :, :size, :size], y).relu()
        return self.to_image(h).tanh()


class SNDCGANDiscriminator(ConditionalCritic):
    """x (B, C, S, S), y (B,) or None -> (B,) scores; h is the flattened last feature map."""

    def __init__(self, channels: int, size: int, norm: Norm, num_classes: int, conditioning: Conditioning,
                 ch: int = 64):
        super().__init__()
        layers, c_in = [], channels
        for i, (multiplier, kernel, stride) in enumerate(D_PLAN):
            c_out = ch * multiplier
            layers += [maybe_spectral(nn.Conv2d(c_in, c_out, kernel, stride, 1), norm),
                       feature_norm(norm, c_out) if i else nn.Identity(), nn.LeakyReLU(0.1)]
            c_in = c_out
            size = (size + 2 - kernel) // stride + 1
        self.net = nn.Sequential(*layers)
        self.set_head(make_head(c_in * size * size, num_classes, conditioning, norm, "discriminator"))
        dcgan_init(self)

    def features(self, x, y=None):
        return self.net(x).flatten(1)


@GENERATORS.register("sndcgan", "SNDCGAN generator (compare_gan); any square size >= 8; conditional BN option",
    citation='Miyato et al. 2018, "Spectral Normalization for GANs"; Kurach et al. 2019', reference_shape=(3, 32, 32))
def sndcgan_generator(data_shape, z_dim, num_classes, norm: Literal["batch", "none"] = "batch",
                      conditional: bool = False, ch: Positive = 64, kernel: Literal[3, 4] = 4,
                      first_norm: Literal["feature", "channel"] = "feature"):
    """``ch`` 64 is compare_gan's SNDCGAN; other values scale every width (e.g. 16 for CPU tests). ``kernel`` 4 is
    compare_gan's deconv size; 3 is the Unrolled GAN / PacGAN Stacked MNIST generator's (with ``ch`` 8).
    ``first_norm``: the first BN per feature of the linear layer (compare_gan) or per channel of its reshaped map
    (the PacGAN Table 3 code)."""
    size = square_size(data_shape, "generator", "sndcgan", MIN_SIZE)
    classes = conditional_classes(conditional, num_classes, "generator.conditional")
    return SNDCGANGenerator(z_dim, data_shape[0], size, norm, classes, ch, kernel, first_norm)


@DISCRIMINATORS.register("sndcgan", "SNDCGAN discriminator (compare_gan, LeakyReLU 0.1); norm spectral|batch|layer|none",
    citation='Miyato et al. 2018, "Spectral Normalization for GANs"; Kurach et al. 2019', reference_shape=(3, 32, 32))
def sndcgan_discriminator(data_shape, num_classes, norm: Norm = "spectral", conditioning: Conditioning = "none",
                          ch: Positive = 64):
    size = square_size(data_shape, "discriminator", "sndcgan", MIN_SIZE)
    return SNDCGANDiscriminator(data_shape[0], size, norm, num_classes, conditioning, ch)
