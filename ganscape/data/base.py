"""Dataset interface and the deterministic, resumable batch sampler.

A dataset returns float32 samples: images as (C, H, W) in [-1, 1], toy data as (D,)
vectors. Labels are int64 class ids, or None for unlabelled data.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from ganscape.registry import Registry

DATASETS = Registry("dataset")


@dataclass
class Dataset:
    """Samples addressable by index.

    Attributes:
        name: registry name it was built from.
        shape: shape of one sample, (C, H, W) for images or (D,) for vectors.
        num_classes: number of label classes, 0 when unlabelled.
        info: extra facts metrics may need (e.g. toy mixture ``centers`` and ``std``).
    """

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


class StreamingDataset(Dataset):
    """A dataset read item by item (e.g. image files), loaded with a thread pool."""

    def __init__(self, name: str, items: Sequence[Any], load: Callable[[Any], tuple[torch.Tensor, int]],
                 shape: tuple[int, ...], num_classes: int = 0, workers: int = 4):
        super().__init__(name, shape, num_classes, {})
        self.items = list(items)
        self.load = load
        self.pool = ThreadPoolExecutor(max_workers=workers)

    def __len__(self) -> int:
        return len(self.items)

    def get(self, indices):
        loaded = list(self.pool.map(lambda i: self.load(self.items[i]), indices.tolist()))
        x = torch.stack([item[0] for item in loaded])
        y = torch.tensor([item[1] for item in loaded]) if self.num_classes else None
        return x, y


class EpochSampler:
    """Deterministic shuffled batches: batch ``k`` depends only on (seed, k).

    Each epoch is a fresh permutation seeded by ``(seed, epoch)``; the incomplete last
    batch of an epoch is dropped. Because nothing but the batch counter is state,
    resuming at step k replays exactly the batches an uninterrupted run would see.
    """

    def __init__(self, size: int, batch_size: int, seed: int):
        if batch_size > size:
            raise ValueError(f"batch size {batch_size} is larger than the dataset ({size} samples)")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.batches_per_epoch = size // batch_size
        self._epoch, self._perm = -1, None

    def indices(self, k: int) -> torch.Tensor:
        epoch, pos = divmod(k, self.batches_per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._epoch = torch.randperm(self.size, generator=gen), epoch
        return self._perm[pos * self.batch_size:(pos + 1) * self.batch_size]


class BatchStream:
    """Iterates batches of a dataset from batch number ``start``; ``position`` is resumable."""

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, start: int = 0):
        self.dataset = dataset
        self.sampler = EpochSampler(len(dataset), batch_size, seed)
        self.position = start

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch = self.dataset.get(self.sampler.indices(self.position))
        self.position += 1
        return batch


def build_dataset(section: dict[str, Any], key: str = "data") -> Dataset:
    """Build a dataset from a ``{name: ..., **options}`` config section."""
    return DATASETS.build(section, key)


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize a (N, C, H, W) float batch to ``size`` x ``size`` (antialiased bilinear)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    out = []
    for chunk in x.split(4096):
        out.append(torch.nn.functional.interpolate(
            chunk, size=(size, size), mode="bilinear", align_corners=False,
            antialias=size < chunk.shape[-1]))
    return torch.cat(out)
