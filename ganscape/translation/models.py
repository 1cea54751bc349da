"""CycleGAN networks: a ResNet translator and a PatchGAN discriminator, registered by name.

Translator ``resnet`` (Johnson et al. 2016, CycleGAN's resnet_9blocks when n_blocks=9): reflect-pad + conv7(ngf),
``n_down`` stride-2 conv3 (x2 channels each), ``n_blocks`` residual blocks (reflect-pad conv3, IN, ReLU, reflect-pad
conv3, IN), ``n_down`` transposed conv3 (stride 2), reflect-pad + conv7 to the output channels, tanh. Instance norm
without affine. Critic ``patchgan`` (70x70 PatchGAN when n_layers=3): conv4 s2 (ndf) + LReLU 0.2, then n_layers-1
conv4 s2 + IN + LReLU doubling channels (at most 8 ndf), a conv4 s1 + IN + LReLU, and conv4 s1 to one score per
patch. Weights N(0, 0.02)."""
from __future__ import annotations

from torch import nn

from ganscape.models.base import dcgan_init
from ganscape.registry import ConfigError, Count, Positive, Registry

TRANSLATORS = Registry("translator", context_args=("channels_in", "channels_out", "size"))
PATCH_CRITICS = Registry("patch critic", context_args=("channels", "size"))


def conv_norm_relu(c_in: int, c_out: int, kernel: int, stride: int, pad: int, transposed: bool = False) -> list[nn.Module]:
    conv = (nn.ConvTranspose2d(c_in, c_out, kernel, stride, pad, output_padding=1) if transposed
            else nn.Conv2d(c_in, c_out, kernel, stride, pad))
    return [conv, nn.InstanceNorm2d(c_out), nn.ReLU(True)]


class ResidualBlock(nn.Module):
    """(B, C, H, W) -> (B, C, H, W): x + IN(conv(ReLU(IN(conv(x))))) with reflection padding."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels),
                                  nn.ReLU(True), nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3),
                                  nn.InstanceNorm2d(channels))

    def forward(self, x):
        return x + self.body(x)


class ResnetTranslator(nn.Module):
    """(B, C_in, S, S) in [-1, 1] -> (B, C_out, S, S) in [-1, 1]."""

    def __init__(self, c_in: int, c_out: int, ngf: int, n_blocks: int, n_down: int):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), *conv_norm_relu(c_in, ngf, 7, 1, 0)]
        width = ngf
        for _ in range(n_down):
            layers += conv_norm_relu(width, width * 2, 3, 2, 1)
            width *= 2
        layers += [ResidualBlock(width) for _ in range(n_blocks)]
        for _ in range(n_down):
            layers += conv_norm_relu(width, width // 2, 3, 2, 1, transposed=True)
            width //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, c_out, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, x):
        return self.net(x)


class PatchCritic(nn.Module):
    """(B, C, S, S) -> (B, 1, P, P) raw scores, one per receptive-field patch."""

    def __init__(self, channels: int, ndf: int, n_layers: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for i in range(1, n_layers + 1):
            out = ndf * min(2 ** i, 8)
            layers += [nn.Conv2d(width, out, 4, 2 if i < n_layers else 1, 1), nn.InstanceNorm2d(out),
                       nn.LeakyReLU(0.2, True)]
            width = out
        layers.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, x):
        return self.net(x)


def patch_output_size(size: int, n_layers: int) -> int:
    """Side of a PatchCritic's score map for S x S input."""
    return size // 2 ** n_layers - 2  # n_layers conv4 s2 p1 halve it; two conv4 s1 p1 layers each remove one pixel


@TRANSLATORS.register("resnet", "CycleGAN ResNet translator (reflection padding, instance norm, residual blocks)",
    citation='Zhu et al. 2017 (CycleGAN); Johnson et al. 2016')
def resnet_translator(channels_in, channels_out, size, ngf: Positive = 64, n_blocks: Count = 9, n_down: Count = 2):
    step = 2 ** n_down
    if size % step or size // step < 2 or size < 4:
        raise ConfigError(f"generator.n_down: {n_down} halvings need an image size that is a multiple of {step} and "
                          f"at least {max(4, 2 * step)} px, got {size}")
    return ResnetTranslator(channels_in, channels_out, ngf, n_blocks, n_down)


@PATCH_CRITICS.register("patchgan", "PatchGAN discriminator (one LSGAN score per image patch)",
    citation='Isola et al. 2017 (pix2pix); Zhu et al. 2017 (CycleGAN)')
def patchgan(channels, size, ndf: Positive = 64, n_layers: Positive = 3):
    if patch_output_size(size, n_layers) < 1:
        smallest = next(s for s in range(2, 4096) if patch_output_size(s, n_layers) >= 1)
        raise ConfigError(f"discriminator.n_layers: {n_layers} layers need images of at least {smallest} px, got {size}; "
                          "lower n_layers")
    return PatchCritic(channels, ndf, n_layers)
