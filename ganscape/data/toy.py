"""2-D Gaussian mixtures used to study mode collapse.

Settings follow PacGAN (Lin et al. 2018): the ring is 8 Gaussians on a circle, the grid 25 Gaussians on
{-4, -2, 0, 2, 4}^2. Centres and std are exposed in ``info`` so mode metrics use exactly the mixture the data came from.
"""
from __future__ import annotations

import math

import torch

from ganscape.data.base import DATASETS, TensorDataset
from ganscape.registry import ConfigError, Positive


def ring_centers(modes: int, radius: float) -> torch.Tensor:
    """(modes, 2) centres evenly spaced on a circle, the first at angle 0."""
    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    return torch.stack([radius * torch.cos(angles), radius * torch.sin(angles)], 1).float()


def grid_centers(side: int, spacing: float) -> torch.Tensor:
    """(side*side, 2) centres on a square grid centred at the origin."""
    coords = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([gx.flatten(), gy.flatten()], 1)


def mixture(name: str, centers: torch.Tensor, std: float, n: int, seed: int) -> TensorDataset:
    """Draw ``n`` points from an equal-weight mixture; labels are the mode ids."""
    if n < 1:
        raise ConfigError(f"n: must be a positive sample count, got {n}")
    if std <= 0:
        raise ConfigError(f"std: must be > 0, got {std}")
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(centers), (n,), generator=gen)
    x = centers[labels] + std * torch.randn(n, 2, generator=gen)
    return TensorDataset(name, x, labels, num_classes=len(centers), info={"centers": centers, "std": float(std)})


def require_positive(**lengths: float) -> None:
    """Refuse a zero or negative length (a radius or spacing) by name."""
    for name, value in lengths.items():
        if not value > 0:
            raise ConfigError(f"{name}: must be > 0, got {value}")


@DATASETS.register("ring8", "8 Gaussians on a circle (PacGAN: radius 1, std 0.01)",
    citation='Metz et al. 2017 (Unrolled GAN); Lin et al. 2018 (PacGAN)')
def ring8(radius: float = 1.0, std: float = 0.01, modes: Positive = 8, n: Positive = 100_000, seed: int = 0):
    require_positive(radius=radius)
    return mixture("ring8", ring_centers(modes, radius), std, n, seed)


@DATASETS.register("grid25", "25 Gaussians on {-4,-2,0,2,4}^2 (PacGAN: std 0.05)",
    citation='Lin et al. 2018 (PacGAN); Srivastava et al. 2017 (VEEGAN)')
def grid25(spacing: float = 2.0, std: float = 0.05, side: Positive = 5, n: Positive = 100_000, seed: int = 0):
    require_positive(spacing=spacing)
    return mixture("grid25", grid_centers(side, spacing), std, n, seed)
