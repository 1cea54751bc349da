"""Latent interpolation: linear and spherical (slerp, Shoemake 1985) paths between latents.

slerp(a, b; t) = sin((1 - t) w) / sin(w) a + sin(t w) / sin(w) b, with w the angle between a and b; it falls back to
linear interpolation when a and b are (anti)parallel. For Gaussian latents slerp keeps the norm near the typical
shell, where linear midpoints are too short; for a uniform prior's cube or a DeLiGAN mixture it has no such reason and
leaves the prior's support (slerp midpoints of a 64-d uniform prior's latents fall outside [-1, 1]), so ``auto``, the
default, walks slerp for a Gaussian prior and linear for any other."""
from __future__ import annotations

from typing import Literal

import torch

from ganscape.registry import ConfigError
from ganscape.runtime import side_rng

Mode = Literal["auto", "linear", "slerp"]


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """a, b (D,) and t (T,) -> (T, D) points a + t (b - a)."""
    return a[None] + t[:, None] * (b - a)[None]


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """a, b (D,) and t (T,) -> (T, D) points on the great circle from a to b (norms interpolated too)."""
    a64, b64, t64 = a.double(), b.double(), t.double()
    cos = torch.dot(a64, b64) / (a64.norm() * b64.norm()).clamp_min(eps)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if torch.sin(omega).abs() < eps:
        return lerp(a, b, t)
    wa = torch.sin((1 - t64) * omega) / torch.sin(omega)
    wb = torch.sin(t64 * omega) / torch.sin(omega)
    return (wa[:, None] * a64[None] + wb[:, None] * b64[None]).to(a.dtype)


def path_mode(gen, mode: Mode) -> Mode:
    """``mode`` itself, or for ``auto`` slerp when ``gen``'s prior is Gaussian and linear otherwise."""
    if mode != "auto":
        return mode
    return "slerp" if gen.config.get("prior", {}).get("name") == "gaussian" else "linear"


def interpolate(a: torch.Tensor, b: torch.Tensor, steps: int, mode: Mode) -> torch.Tensor:
    """Rows of ``steps`` points from a[i] to b[i]: a, b (R, D) -> (R * steps, D)."""
    if mode not in ("linear", "slerp"):
        raise ConfigError(f"--mode: {mode!r} is not valid; choose linear or slerp")
    if steps < 2:
        raise ConfigError(f"--steps: need at least 2 points per row, got {steps}")
    t = torch.linspace(0, 1, steps, device=a.device)
    path = lerp if mode == "linear" else slerp
    return torch.cat([path(a[i], b[i], t) for i in range(a.shape[0])])


def interpolation_grid(gen, rows: int = 4, steps: int = 8, mode: Mode = "auto", seed: int = 0,
                       label: int | dict[str, int] | None = None) -> torch.Tensor:
    """Images (rows * steps, *shape): row i walks from one random latent to another.

    ``gen`` is a ``ganscape.sampling.GeneratorSampler``. A conditional generator keeps one class per row: ``label``
    if given, else row i uses class i mod num_classes; an attribute-conditioned one keeps one of the run's real
    attribute vectors per row, with the attributes ``label`` ({name: 0|1}) fixes set."""
    if rows < 1:
        raise ConfigError(f"--rows: must be >= 1, got {rows}")
    with side_rng(seed, gen.device):
        ends = gen.prior.sample(2 * rows, gen.device)
    z = interpolate(ends[:rows], ends[rows:], steps, path_mode(gen, mode))
    if label is not None:
        gen.labels(1, label)  # ConfigError for an unconditional G, a class out of range or an unknown attribute
    y = None
    if gen.attribute_names:  # attribute-conditioned (CelebA): one vector of the run's real attributes per row
        with side_rng(seed + 2, gen.device):
            y = gen.labels(rows, label).repeat_interleave(steps, 0)
    elif gen.num_classes:
        per_row = torch.full((rows,), label) if label is not None else torch.arange(rows) % gen.num_classes
        y = gen.labels(rows * steps, per_row.repeat_interleave(steps))
    return gen.decode(z, y, noise_seed=seed)  # one noise for every frame (StyleGAN): frames differ by z alone
