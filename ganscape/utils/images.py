"""Image grids and scatter plots with Pillow and matplotlib (no torchvision)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ganscape.registry import ConfigError
from ganscape.utils.io import atomic_path


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) in [-1, 1] -> (B, H, W, C) uint8."""
    x = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile (B, C, H, W) images in [-1, 1] into one (H', W', C) uint8 array."""
    arr = to_uint8(images)
    b, h, w, c = arr.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(b))))
    ncol = int(math.ceil(b / nrow))
    grid = np.zeros((ncol * (h + padding) + padding, nrow * (w + padding) + padding, c), dtype=np.uint8)
    for i in range(b):
        r, q = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + q * (w + padding)
        grid[top:top + h, left:left + w] = arr[i]
    return grid


def save_image(array: np.ndarray, path: str | Path) -> None:
    """Save an (H, W, C) uint8 array as PNG, atomically."""
    img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> None:
    save_image(make_grid(images, nrow), path)


def pyplot():
    """matplotlib's pyplot for writing files (the Agg backend: no display needed), every text drawn as plain text: a
    label is a study's, a concept's or a metric's own words ("$5 bill", "$1$"), not TeX, nor a parse error."""
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt
    return plt


def save_scatter(points: torch.Tensor, path: str | Path, reference: torch.Tensor | None = None,
                 title: str = "") -> None:
    """Scatter plot of (N, 2) samples, with optional reference points (e.g. mode centres)."""
    plt = pyplot()

    pts = points.detach().float().cpu().numpy()
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.5, label="samples")
    if reference is not None:
        ref = reference.cpu().numpy()
        ax.scatter(ref[:, 0], ref[:, 1], s=40, marker="x", color="red", label="modes")
    span = np.abs(ref).max() * 1.5 if reference is not None else np.abs(pts).max() * 1.05
    ax.set(xlim=(-span, span), ylim=(-span, span), aspect="equal", title=title)
    ax.legend(loc="upper right", fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)


def save_samples(samples: torch.Tensor, path: str | Path, dataset_info: dict | None = None, title: str = "",
                 nrow: int | None = None) -> None:
    """Images -> grid PNG (``nrow`` per row); 2-D vectors -> scatter PNG (with the modes in ``dataset_info``)."""
    if samples.dim() == 4:
        save_grid(samples, path, nrow)
    elif samples.dim() == 2 and samples.shape[1] == 2:
        save_scatter(samples, path, (dataset_info or {}).get("centers"), title)
    else:
        raise ConfigError(f"cannot draw samples of shape {tuple(samples.shape)}: only images and 2-D points are drawn")


@dataclass
class Preview:
    """What a run draws as its sample image: images (B, C, H, W) tiled ``nrow`` per row, or
    2-D points (N, 2) scattered over the toy mixture's modes in ``info``."""

    samples: torch.Tensor
    nrow: int | None = None
    info: dict[str, Any] | None = None

    def save(self, path: str | Path, title: str = "") -> None:
        save_samples(self.samples, path, self.info, title, self.nrow)
