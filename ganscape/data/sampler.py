"""The deterministic, resumable batch sampler: batch ``k`` depends only on (seed, k)."""
from __future__ import annotations

import torch

from ganscape.data.base import Dataset


class EpochSampler:
    """Deterministic shuffled batches: batch ``k`` depends only on (seed, k).

    Each epoch is a fresh permutation seeded by ``(seed, epoch)``; the incomplete last batch of an epoch is dropped.
    Because nothing but the batch counter is state, resuming at step k replays exactly the batches an uninterrupted
    run would see."""

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
