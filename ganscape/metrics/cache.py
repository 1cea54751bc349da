"""Per-process memory of what evaluation computes again and again from the same real data.

A study worker evaluates checkpoint after checkpoint against the same reference data with the same feature network.
``reference_features`` (``ganscape.metrics.reference``) keeps the reference features it returns here, keyed by
everything that selects them (dataset section, n, seed, extractor tag and fingerprint, cache folder), and metrics
derive from those arrays what depends only on the real data — FID's mean and covariance, the real samples' k-NN
radii — once per process (``derived``). Values are exactly those computed without the memory: the same function on
the same array. The arrays kept are made read-only, so no caller can change them for the next evaluation.

The memory is bounded (the ``MAX_ENTRIES`` newest reference sets) and lives only in this process; on disk the
reference cache stays the one ``ganscape.metrics.reference`` writes. ``clear()`` forgets everything (tests)."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

import numpy as np

MAX_ENTRIES = 4


@dataclass
class Entry:
    features: np.ndarray
    key: dict[str, Any]
    derived: dict[Hashable, Any] = field(default_factory=dict)


_entries: OrderedDict[Hashable, Entry] = OrderedDict()
_lock = threading.RLock()


def lookup(memo_key: Hashable) -> Entry | None:
    with _lock:
        entry = _entries.get(memo_key)
        if entry is not None:
            _entries.move_to_end(memo_key)
        return entry


def remember(memo_key: Hashable, features: np.ndarray, key: dict[str, Any]) -> np.ndarray:
    """Keep ``features`` (made read-only) under ``memo_key``; returns the kept array."""
    features.setflags(write=False)
    with _lock:
        _entries[memo_key] = Entry(features, key)
        _entries.move_to_end(memo_key)
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    return features


def derived(features: Any, name: Hashable, compute: Callable[[], Any]) -> Any:
    """``compute()``, kept with ``features`` when they are a remembered reference array (the very object), so the
    next evaluation against the same reference reuses it; for any other array simply ``compute()``."""
    with _lock:
        entry = next((e for e in _entries.values() if e.features is features), None)
        if entry is not None and name in entry.derived:
            return entry.derived[name]
    value = compute()
    if entry is not None:
        with _lock:
            entry.derived[name] = value
    return value


def clear() -> None:
    with _lock:
        _entries.clear()


__all__ = ["MAX_ENTRIES", "clear", "derived", "lookup", "remember"]
