"""The dataset interface: samples addressable by index, in memory or streamed from files.

A dataset returns float32 samples: images as (C, H, W) in [-1, 1], toy data as (D,) vectors. Labels are int64 class
ids, float32 (K,) 0/1 attribute vectors (``num_classes`` = K), or None for unlabelled data."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from ganscape.registry import ConfigError, Registry

DATASETS = Registry("dataset")


@dataclass
class Dataset:
    """Samples addressable by index: ``name`` (the registry name it was built from), ``shape`` of one
    sample ((C, H, W) for images or (D,) for vectors), ``num_classes`` (0 when unlabelled) and
    ``info``, extra facts metrics may need (e.g. toy mixture ``centers`` and ``std``)."""

    name: str
    shape: tuple[int, ...]
    num_classes: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3

    def __len__(self) -> int:
        raise NotImplementedError

    def get(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return ``(x, y)`` for a 1-D index tensor; x is (B, *shape) float32."""
        raise NotImplementedError

    def check_finite(self, key: str) -> None:
        """Raise ConfigError if the data holds NaN or inf (checked once, when it is loaded)."""

    def to_device(self, device: torch.device, limit_bytes: int) -> None:
        """Move the data onto ``device`` when it takes fewer than ``limit_bytes`` there (default: stay put)."""


class TensorDataset(Dataset):
    """A dataset held in memory as one tensor: batches are a single index op."""

    def __init__(self, name: str, x: torch.Tensor, y: torch.Tensor | None = None,
                 num_classes: int = 0, info: dict[str, Any] | None = None):
        super().__init__(name, tuple(x.shape[1:]), num_classes, info or {})
        self.x = x.contiguous().float()
        self.y = None if y is None else y.long()

    def __len__(self) -> int:
        return self.x.shape[0]

    def get(self, indices):
        return self.x[indices], (None if self.y is None else self.y[indices])

    def to_device(self, device: torch.device, limit_bytes: int) -> None:
        if self.x.numel() * self.x.element_size() < limit_bytes:
            self.x = self.x.to(device)
            self.y = None if self.y is None else self.y.to(device)

    def check_finite(self, key: str) -> None:
        bad = ~torch.isfinite(self.x.reshape(len(self.x), -1)).all(dim=1)
        if bool(bad.any()):
            raise ConfigError(f"{key}: the data holds NaN or inf values in {int(bad.sum())} of {len(self.x)} samples "
                              f"(first: sample {int(bad.nonzero()[0])}); clean the data before training")


class StreamingDataset(Dataset):
    """A dataset read item by item (e.g. image files), loaded with a thread pool."""

    def __init__(self, name: str, items: Sequence[Any], load: Callable[[Any], tuple[torch.Tensor, int]],
                 shape: tuple[int, ...], num_classes: int = 0, workers: int = 4):
        super().__init__(name, shape, num_classes, {})
        self.items, self.load = list(items), load
        self.pool = ThreadPoolExecutor(max_workers=workers)

    def __len__(self) -> int:
        return len(self.items)

    def get(self, indices):
        loaded = list(self.pool.map(lambda i: self.load(self.items[i]), indices.tolist()))
        x = torch.stack([item[0] for item in loaded])
        y = torch.tensor([item[1] for item in loaded]) if self.num_classes else None
        return x, y


def build_dataset(section: dict[str, Any], key: str = "data") -> Dataset:
    """Build a dataset from a ``{name: ..., **options}`` config section."""
    return DATASETS.build(section, key)


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize a (N, C, H, W) float batch to ``size`` x ``size`` (antialiased bilinear)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return torch.cat([F.interpolate(chunk, size=(size, size), mode="bilinear", align_corners=False,
                                    antialias=size < chunk.shape[-1]) for chunk in x.split(4096)])
