"""Class-conditional DCGAN: the DCGAN layer plan with class-conditional BN in G and a projection or AC-GAN head
in D (same sizes as ``dcgan``: 4*2^k or 7*2^k). With ``conditional: false`` / ``conditioning: none`` the networks
match ``dcgan`` layer for layer (same parameter count), so the two can be compared at equal capacity."""
from __future__ import annotations

import torch
from torch import nn

from ganscape.models.base import DISCRIMINATORS, GENERATORS, GeneratorNet, Norm, dcgan_init
from ganscape.models.conditional import (Conditioning, ConditionalCritic, GeneratorNorm, condition_vector,
                                         conditional_classes, make_head, require_labels)
from ganscape.models.dcgan import dcgan_critic_body, upsampling_plan
from ganscape.registry import Positive


class ConditionalDCGANGenerator(GeneratorNet):
    """z (B, z_dim), y (B,) -> (B, C, S, S) in [-1, 1].

    With ``label_input`` the one-hot label is also concatenated to z before the first layer (Mirza & Osindero 2014;
    the AC-GAN paper's generator input). Class-conditional BN alone starts from zero embeddings and, at DCGAN
    learning rates, took thousands of steps to make samples follow y on digits (measured: class agreement at chance
    after 2000 steps)."""

    def __init__(self, z_dim: int, channels: int, base: int, k: int, ngf: int, num_classes: int,
                 label_input: bool = True):
        super().__init__()
        self.num_classes = num_classes
        self.label_input = label_input and num_classes > 0
        width = ngf * 2 ** (k - 1)
        in_dim = z_dim + (num_classes if self.label_input else 0)
        self.convs = nn.ModuleList([nn.ConvTranspose2d(in_dim, width, base, 1, 0, bias=False)])
        self.norms = nn.ModuleList([GeneratorNorm("batch", width, num_classes)])
        for _ in range(k - 1):
            self.convs.append(nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False))
            self.norms.append(GeneratorNorm("batch", width // 2, num_classes))
            width //= 2
        self.to_image = nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False)
        dcgan_init(self)

    def forward(self, z, y=None):
        if self.label_input:
            require_labels(y)
            z = torch.cat([z, condition_vector(y, self.num_classes, z.dtype)], dim=1)
        h = z.reshape(z.shape[0], z.shape[1], 1, 1)
        for conv, norm in zip(self.convs, self.norms):
            h = norm(conv(h), y).relu()
        return self.to_image(h).tanh()


class ConditionalDCGANDiscriminator(ConditionalCritic):
    """x (B, C, S, S), y (B,) -> (B,) scores; h is the flattened last feature map."""

    def __init__(self, channels: int, base: int, k: int, ndf: int, norm: Norm, num_classes: int,
                 conditioning: Conditioning):
        super().__init__()
        layers, width = dcgan_critic_body(channels, k, ndf, norm, inplace=False)
        self.net = nn.Sequential(*layers)
        self.set_head(make_head(width * base * base, num_classes, conditioning, norm, "discriminator", bias=False))
        dcgan_init(self)

    def features(self, x, y=None):
        return self.net(x).flatten(1)


@GENERATORS.register("cdcgan", "DCGAN generator conditioned on y (one-hot input + class-conditional BN, gamma = 1 + f(y)); sizes as dcgan",
    citation='Mirza & Osindero 2014; Miyato & Koyama 2018')
def cdcgan_generator(data_shape, z_dim, num_classes, ngf: Positive = 64, conditional: bool = True, label_input: bool = True):
    """``label_input``: also feed one-hot y with z (off: conditional BN is the only path)."""
    base, k = upsampling_plan(data_shape, "generator")
    classes = conditional_classes(conditional, num_classes, "generator.conditional")
    return ConditionalDCGANGenerator(z_dim, data_shape[0], base, k, ngf, classes, label_input)


@DISCRIMINATORS.register("cdcgan", "DCGAN discriminator with a projection or AC-GAN class head; sizes as dcgan",
    citation='Miyato & Koyama 2018 (projection); Odena et al. 2017 (AC-GAN)')
def cdcgan_discriminator(data_shape, num_classes, ndf: Positive = 64, norm: Norm = "batch",
                         conditioning: Conditioning = "projection"):
    base, k = upsampling_plan(data_shape, "discriminator")
    return ConditionalDCGANDiscriminator(data_shape[0], base, k, ndf, norm, num_classes, conditioning)
