"""scikit-learn's bundled 8x8 handwritten digits (1,797 images): needs no download."""
from __future__ import annotations

import torch

from ganscape.data.base import DATASETS, TensorDataset, resize_images
from ganscape.registry import ConfigError, Positive


@DATASETS.register("digits", "scikit-learn 8x8 digits (1,797 real images), upscaled to `size`",
    citation='Alpaydin & Kaynak 1998 (UCI optical digits, via scikit-learn)')
def digits(size: Positive = 32, invert: bool = False, rotate: int = 0):
    """Digits in [-1, 1], (1, size, size); ``invert`` and ``rotate`` (multiples of 90
    degrees) give the second domain of the embedded unpaired-translation pair."""
    if size < 8:
        raise ConfigError(f"size: must be >= 8, got {size}")
    if rotate % 90:
        raise ConfigError(f"rotate: must be a multiple of 90 degrees, got {rotate}")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images).float().div(16.0).unsqueeze(1)  # (1797, 1, 8, 8) in [0, 1]
    x = resize_images(x, size).clamp(0, 1)
    y = torch.from_numpy(bunch.target).long()
    if invert:
        x = 1 - x
    if rotate:
        x = torch.rot90(x, k=rotate // 90, dims=(2, 3))
    return TensorDataset("digits", x * 2 - 1, y, num_classes=10)
