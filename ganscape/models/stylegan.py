"""A StyleGAN-style generator (Karras et al. 2019, NVlabs/stylegan networks_stylegan.py) at 16-64 px.

- Mapping: pixel-norm z, ``mapping_layers`` x EqualLinear(w_dim) + LeakyReLU(0.2), learning rate multiplier 0.01
  (equalised learning rate: weights N(0, 1) scaled at run time by gain / sqrt(fan_in)).
- Synthesis: a learned 4x4 constant (init ones); two layers per resolution (4x4: const and a conv; above: nearest x2
  + conv3, conv3). Each layer: conv -> x + s_c * noise (one noise channel broadcast over channels; s_c init 0) ->
  bias -> LeakyReLU(0.2) -> InstanceNorm -> AdaIN x * (1 + style_scale(w)) + style_bias(w). A 1x1 conv makes the
  image (linear output, as the reference). Blur filters and progressive growing are left out.
- Training mode: ``w_avg`` <- lerp(mean w, w_avg, 0.995) on every forward; with probability ``mixing_prob`` the
  layers from a random cutoff on use the w of another latent of the batch (the batch rolled by one, so the second
  latent has the prior's distribution whatever it is).
- Eval mode: the truncation trick ``w' = w_avg + psi (w - w_avg)`` on the first ``truncation_cutoff`` layers when
  ``truncation_psi`` != 1 (set it with ``ganscape.analysis.truncation``).
- Path-length regularisation (StyleGAN2, Karras et al. 2020; off unless ``pl_weight`` > 0): ``penalty(z, y)``
  is ``pl_weight * mean_i (|J_i^T u_i| - a)^2`` on the first ``len(z) // pl_batch_shrink`` latents, with ``u_i``
  images of N(0, 1) / sqrt(H W), J_i the Jacobian of the image with respect to the per-layer styles ws_i (B, L, w_dim)
  (after style mixing, as the reference), |J^T u| = sqrt(mean over layers of the squared norm), and ``a`` (buffer
  ``pl_mean``) <- lerp(a, mean |J^T u|, pl_decay) before the penalty uses it (gradient flows through the update, as
  the reference). The scheme applies it every ``pl_every`` G steps, times ``pl_every`` (lazy regularisation):
  ``penalty_every`` is 0 when it is off. w_avg is not updated by this extra forward.
Channels per resolution r: min(fmap_max, fmap_base // r).

The matching discriminator (registered ``stylegan``) is the StyleGAN2 residual D: ``ganscape.models.stylegan_d``."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganscape.models.base import GENERATORS, GeneratorNet
from ganscape.registry import ConfigError, Count, NonNegative, Positive

SIZES = tuple(2 ** k for k in range(4, 7))  # 16, 32, 64
W_AVG_BETA = 0.995


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: y = x (W * gain * lr_mul / sqrt(in))^T + b * lr_mul."""

    def __init__(self, c_in: int, c_out: int, gain: float = math.sqrt(2), lr_mul: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((c_out,), bias_init / lr_mul))
        self.scale, self.lr_mul = gain * lr_mul / math.sqrt(c_in), lr_mul

    def runtime_scales(self) -> dict[str, float]:
        """What ``forward`` multiplies each stored parameter by (weight clipping bounds the products)."""
        return {"weight": self.scale, "bias": self.lr_mul}

    def forward(self, x):
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    """Conv (same padding, no bias) with equalised learning rate (weights N(0, 1) x gain / sqrt(fan_in))."""

    def __init__(self, c_in: int, c_out: int, kernel: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.scale, self.pad = gain / math.sqrt(c_in * kernel * kernel), kernel // 2

    def runtime_scales(self) -> dict[str, float]:
        """What ``forward`` multiplies the stored weight by (weight clipping bounds the product)."""
        return {"weight": self.scale}

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, padding=self.pad)


class StyledLayer(nn.Module):
    """[up x2] conv3 (or nothing for the constant), noise, bias, LReLU, InstanceNorm, AdaIN.

    x: (B, C_in, H, W) or None for the first layer; w: (B, w_dim) -> (B, C_out, H', W')."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, conv: bool, up: bool):
        super().__init__()
        self.up = up
        self.conv = EqualConv2d(c_in, c_out, 3) if conv else None
        self.noise_strength = nn.Parameter(torch.zeros(c_out))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.style = EqualLinear(w_dim, 2 * c_out, gain=1.0)

    def forward(self, x, w, noise: torch.Tensor | None = None):
        """``noise`` (B or 1, 1, H', W'): this layer's noise input; None draws it from the global stream."""
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if self.conv is not None:
            x = self.conv(x)
        if noise is None:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        x = x + self.noise_strength[None, :, None, None] * noise + self.bias[None, :, None, None]
        x = F.instance_norm(F.leaky_relu(x, 0.2), eps=1e-8)
        scale, shift = self.style(w)[:, :, None, None].chunk(2, dim=1)
        return x * (1 + scale) + shift


class MappingNetwork(nn.Module):
    """z (B, z_dim) -> w (B, w_dim)."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mul: float = 0.01):
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_mul=lr_mul) for a, b in zip(dims, dims[1:]))

    def forward(self, z):
        x = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2)
        return x


class StyleGenerator(GeneratorNet):
    """z (B, z_dim) -> (B, C, S, S); see the module docstring for train/eval behaviour."""

    def __init__(self, z_dim: int, channels: int, size: int, w_dim: int, mapping_layers: int, fmap_base: int,
                 fmap_max: int, mixing_prob: float, truncation_cutoff: int, pl_weight: float = 0.0,
                 pl_every: int = 4, pl_decay: float = 0.01, pl_batch_shrink: int = 2):
        super().__init__()
        self.mixing_prob, self.truncation_cutoff, self.truncation_psi = mixing_prob, truncation_cutoff, 1.0
        self.pl_weight, self.pl_decay, self.pl_batch_shrink = pl_weight, pl_decay, pl_batch_shrink
        self.penalty_every = pl_every if pl_weight > 0 else 0  # G steps between path-length penalties; 0 = off
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers)
        width = [min(fmap_max, fmap_base // 2 ** k) for k in range(2, int(math.log2(size)) + 1)]
        self.const = nn.Parameter(torch.ones(1, width[0], 4, 4))
        layers = [StyledLayer(width[0], width[0], w_dim, conv=False, up=False),
                  StyledLayer(width[0], width[0], w_dim, conv=True, up=False)]
        for c_in, c_out in zip(width, width[1:]):
            layers += [StyledLayer(c_in, c_out, w_dim, conv=True, up=True),
                       StyledLayer(c_out, c_out, w_dim, conv=True, up=False)]
        self.layers = nn.ModuleList(layers)
        self.to_image = EqualConv2d(width[-1], channels, 1, gain=1.0)
        self.image_bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("w_avg", torch.zeros(w_dim))
        if pl_weight > 0:  # only then, so checkpoints of runs without it keep their keys
            self.register_buffer("pl_mean", torch.zeros(()))

    @property
    def num_layers(self) -> int:
        """Number of style inputs (two per resolution)."""
        return len(self.layers)

    def noise_sizes(self) -> list[int]:
        """Side of each layer's square noise input: 4, 4, 8, 8, ... (two layers per resolution)."""
        return [4 * 2 ** (i // 2) for i in range(self.num_layers)]

    def draw_noise(self, seeds: list[int], device: torch.device | str = "cpu") -> list[torch.Tensor]:
        """Per-layer noise inputs, each (len(seeds), 1, H, W): image i's drawn from its own stream ``seeds[i]``, so
        an image's noise does not depend on the images drawn with it."""
        sizes = [side * side for side in self.noise_sizes()]
        rows = torch.stack([torch.randn(sum(sizes), generator=torch.Generator().manual_seed(seed)) for seed in seeds])
        return [part.reshape(len(seeds), 1, side, side).to(device)
                for part, side in zip(rows.split(sizes, dim=1), self.noise_sizes())]

    def synthesis(self, ws: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Per-layer styles ws (B, num_layers, w_dim) -> images (B, C, S, S). ``noise``: per-layer noise inputs
        (``draw_noise``; a batch of 1 is shared by all images); None draws fresh noise from the global stream."""
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i], None if noise is None else noise[i])
        return self.to_image(x) + self.image_bias[None, :, None, None]

    def truncate(self, ws: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
        """w_avg + psi (w - w_avg) on layers [0, cutoff) of ws (B, L, w_dim)."""
        cutoff = self.truncation_cutoff if cutoff is None else cutoff
        layer = torch.arange(ws.shape[1], device=ws.device)[None, :, None]
        return torch.where(layer < cutoff, self.w_avg + psi * (ws - self.w_avg), ws)

    def forward(self, z, y=None, noise: list[torch.Tensor] | None = None):
        w = self.mapping(z)
        ws = w[:, None].expand(-1, self.num_layers, -1)
        if self.training:
            with torch.no_grad():
                self.w_avg.copy_(w.detach().mean(0).lerp(self.w_avg, W_AVG_BETA))
            ws = self.mix_styles(z, ws)
        elif self.truncation_psi != 1.0:
            ws = self.truncate(ws, self.truncation_psi)
        return self.synthesis(ws, noise)

    def path_lengths(self, ws: torch.Tensor) -> torch.Tensor:
        """|J^T u| (B,) for styles ws (B, L, w_dim), with a graph for backprop: u ~ N(0, 1) / sqrt(H W) per image
        pixel, J the Jacobian of each image with respect to its own ws; the norm is sqrt(mean_l sum_d (J^T u)^2)."""
        images = self.synthesis(ws)
        u = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
        (grad,) = torch.autograd.grad((images * u).sum(), ws, create_graph=True)
        return grad.square().sum(2).mean(1).sqrt()

    def penalty(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The weighted path-length penalty of the first len(z) // pl_batch_shrink latents (at least one); updates
        ``pl_mean``. Training-mode styles (mixing), no w_avg update; labels are ignored."""
        if self.penalty_every == 0:
            raise RuntimeError("path-length regularisation is off (generator.pl_weight = 0)")
        z = z[:max(1, z.shape[0] // self.pl_batch_shrink)]
        ws = self.mapping(z)[:, None].expand(-1, self.num_layers, -1)
        if self.training:
            ws = self.mix_styles(z, ws)
        lengths = self.path_lengths(ws)
        a = self.pl_mean.lerp(lengths.mean(), self.pl_decay)
        self.pl_mean.copy_(a.detach())
        return self.pl_weight * (lengths - a).square().mean()

    def mix_styles(self, z: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
        """With probability mixing_prob, layers >= a random cutoff take another latent's w."""
        if self.mixing_prob <= 0 or z.shape[0] < 2 or float(torch.rand(())) >= self.mixing_prob:
            return ws
        cutoff = int(torch.randint(1, self.num_layers, ()))
        w2 = self.mapping(z.roll(1, dims=0))[:, None].expand_as(ws)
        layer = torch.arange(self.num_layers, device=ws.device)[None, :, None]
        return torch.where(layer < cutoff, ws, w2)


@GENERATORS.register("stylegan", "StyleGAN-style generator (mapping to W, AdaIN, noise, style mixing, truncation; optional "
    "lazy path-length regularisation, pl_weight); 16, 32 or 64 px",
    citation='Karras et al. 2019, "A Style-Based Generator Architecture for GANs"; path length: Karras et al. 2020, '
             '"Analyzing and Improving the Image Quality of StyleGAN"', reference_shape=(3, 64, 64))
def stylegan_generator(data_shape, z_dim, num_classes, w_dim: Positive = 256, mapping_layers: Positive = 8,
                       fmap_base: int = 2048, fmap_max: Positive = 128, mixing_prob: float = 0.9,
                       truncation_cutoff: Count = 8, pl_weight: NonNegative = 0.0, pl_every: Positive = 4,
                       pl_decay: NonNegative = 0.01, pl_batch_shrink: Positive = 2):
    """Unconditional (labels are ignored). ``pl_weight`` > 0 turns on path-length regularisation (StyleGAN2 uses 2,
    every 4 G steps, decay 0.01, half batch)."""
    if len(data_shape) != 3 or data_shape[1] != data_shape[2] or data_shape[1] not in SIZES:
        raise ConfigError(f"generator.name: 'stylegan' cannot make samples of shape {data_shape}; it needs square "
                          f"images (C, S, S) with S one of {', '.join(map(str, SIZES))}")
    if not 0.0 <= mixing_prob <= 1.0:
        raise ConfigError(f"generator.mixing_prob: must be in [0, 1], got {mixing_prob}")
    if fmap_base // data_shape[1] < 1:
        raise ConfigError(f"generator.fmap_base: must be >= the image size {data_shape[1]}, got {fmap_base}")
    if pl_decay > 1.0:
        raise ConfigError(f"generator.pl_decay: must be in [0, 1], got {pl_decay}")
    return StyleGenerator(z_dim, data_shape[0], data_shape[1], w_dim, mapping_layers, fmap_base, fmap_max,
                          mixing_prob, truncation_cutoff, pl_weight, pl_every, pl_decay, pl_batch_shrink)
