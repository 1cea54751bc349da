"""The deterministic, resumable batch sampler: batch ``k`` depends only on (seed, k)."""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from ganscape.data.base import Dataset


class EpochSampler:
    """Deterministic shuffled batches: batch ``k`` depends only on (seed, k).

    Each epoch is a fresh permutation seeded by ``(seed, epoch)``; the incomplete last batch of an epoch is dropped.
    Because nothing but the batch counter is state, resuming at step k replays exactly the batches an uninterrupted
    run would see.

    ``shard = (rank, world)``: ``batch_size`` is the global batch, and this sampler yields rank ``rank``'s part of it,
    rows ``[rank * b, (rank + 1) * b)`` with ``b = batch_size / world``. The ranks' parts are disjoint and together
    are exactly the single-process batch."""

    def __init__(self, size: int, batch_size: int, seed: int, shard: tuple[int, int] = (0, 1)):
        if batch_size > size:
            raise ValueError(f"batch size {batch_size} is larger than the dataset ({size} samples)")
        rank, world = shard
        if batch_size % world or not 0 <= rank < world:
            raise ValueError(f"shard {shard}: rank must be in [0, world) and world must divide batch size {batch_size}")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.batches_per_epoch = size // batch_size
        self.local = batch_size // world
        self.offset = rank * self.local
        self._epoch, self._perm = -1, None
        self._lock = threading.Lock()

    def indices(self, k: int) -> torch.Tensor:
        epoch, pos = divmod(k, self.batches_per_epoch)
        with self._lock:  # a prefetching stream calls this from its reader thread too
            if epoch != self._epoch:
                gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                self._perm, self._epoch = torch.randperm(self.size, generator=gen), epoch
            perm = self._perm
        start = pos * self.batch_size + self.offset
        return perm[start:start + self.local]


class BatchStream:
    """Iterates batches of a dataset from batch number ``start``; ``position`` is resumable. ``shard``: see
    ``EpochSampler``.

    ``prefetch``: read the next batch on a background thread while the current step runs (into pinned memory when
    ``pin``, so the copy to the GPU can be asynchronous). Batches are the same with or without it: the prefetched one
    is used only if it is the batch at ``position``."""

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, start: int = 0, shard: tuple[int, int] = (0, 1),
                 prefetch: bool = False, pin: bool = False):
        self.dataset = dataset
        self.sampler = EpochSampler(len(dataset), batch_size, seed, shard)
        self.position = start
        self.pin = pin
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="ganscape-prefetch") if prefetch else None
        self._pending: tuple[int, Future] | None = None

    def read(self, k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Batch ``k`` (pinned when ``pin``)."""
        x, y = self.dataset.get(self.sampler.indices(k))
        if self.pin:
            x, y = x.pin_memory(), (None if y is None else y.pin_memory())
        return x, y

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        k = self.position
        pending, self._pending = self._pending, None
        batch = pending[1].result() if pending is not None and pending[0] == k else self.read(k)
        self.position = k + 1
        if self._pool is not None:
            self._pending = (k + 1, self._pool.submit(self.read, k + 1))
        return batch
