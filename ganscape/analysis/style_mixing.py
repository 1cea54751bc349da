"""Style-mixing grids for StyleGAN-style generators (Karras et al. 2019, Fig. 3).

Row sources A_i and column sources B_j are latents from two seeds. Cell (i, j) is synthesised with A_i's w on every
layer except a band taken from B_j: ``coarse`` = layers [0, cutoff) (pose, shape), ``fine`` = layers [cutoff, L)
(colour, texture). The first row shows the B_j, the first column the A_i, the corner is blank."""
from __future__ import annotations

from typing import Literal

import torch

from ganscape.analysis.truncation import check_psi
from ganscape.interfaces import StyleBased
from ganscape.registry import ConfigError
from ganscape.runtime import noise_seed, rng_devices

Band = Literal["coarse", "fine"]


def style_mix_grid(gen, rows: int = 3, cols: int = 4, seed_rows: int = 0, seed_cols: int = 1,
                   cutoff: int | None = None, band: Band = "coarse", psi: float = 1.0) -> torch.Tensor:
    """Images ((rows + 1) * (cols + 1), C, S, S) in row-major order; see the module docstring.

    ``gen`` is a ``ganscape.sampling.GeneratorSampler`` whose G is style-based (``StyleBased``)."""
    G = gen.G
    if not isinstance(G, StyleBased):
        raise ConfigError(f"style-mix: needs a StyleGAN generator (generator.name=stylegan); this run's generator "
                          f"is {gen.config['generator']['name']!r}")
    layers = G.num_layers
    cutoff = layers // 2 if cutoff is None else cutoff
    if not 1 <= cutoff < layers:
        raise ConfigError(f"--cutoff: must be in 1..{layers - 1} for this generator ({layers} style layers), got {cutoff}")
    if rows < 1 or cols < 1:
        raise ConfigError(f"--rows/--cols: must be >= 1, got {rows} x {cols}")
    if band not in ("coarse", "fine"):
        raise ConfigError(f"--band: {band!r} is not valid; choose coarse or fine")
    check_psi(psi)
    with torch.no_grad(), torch.random.fork_rng(devices=rng_devices(gen.device)):
        torch.manual_seed(seed_rows)
        w_a = G.mapping(gen.prior.sample(rows, gen.device))
        torch.manual_seed(seed_cols)
        w_b = G.mapping(gen.prior.sample(cols, gen.device))
        ws_a = G.truncate(w_a[:, None].expand(-1, layers, -1), psi)
        ws_b = G.truncate(w_b[:, None].expand(-1, layers, -1), psi)
        from_b = torch.arange(layers, device=gen.device) < cutoff
        from_b = from_b if band == "coarse" else ~from_b
        mixed = torch.where(from_b[None, None, :, None], ws_b[None], ws_a[:, None])  # (rows, cols, L, w_dim)
        noise = G.draw_noise([noise_seed(seed_rows, seed_cols)], gen.device)  # one for all: styles alone differ
        images_a, images_b = G.synthesis(ws_a, noise), G.synthesis(ws_b, noise)
        images = G.synthesis(mixed.reshape(rows * cols, layers, -1), noise).reshape(rows, cols, *images_a.shape[1:])
    body = [torch.cat([images_a[i:i + 1], images[i]]) for i in range(rows)]
    return torch.cat([torch.full_like(images_a[:1], -1.0), images_b, *body])  # blank corner, B_j row, then A_i rows
