"""Reference (real-data) features, cached on disk.

An entry is keyed by the dataset section (which includes its split), the number of reference samples and their
selection seed, the extractor (tag and weights fingerprint), a hash of the selected data and ``CACHE_VERSION``. The key
is hashed into the file name *and* stored inside the file; on load the stored key must equal the expected one, so an
entry built with other settings is never silently reused (it is rebuilt instead)."""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganscape.features.extractor import Extractor, extract
from ganscape.paths import cache_root
from ganscape.utils.io import atomic_path

log = logging.getLogger(__name__)
CACHE_VERSION = "ref-v1"


def reference_samples(section: dict[str, Any], n: int, seed: int = 0) -> torch.Tensor:
    """``n`` samples of the dataset (a seeded random subset; all of it when it has <= n)."""
    from ganscape.data import build_dataset

    ds = build_dataset(section, key="reference")
    if n >= len(ds):
        idx = torch.arange(len(ds))
    else:
        idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return torch.cat([ds.get(chunk)[0] for chunk in idx.split(2048)])


def cache_key(section: dict[str, Any], x: torch.Tensor, seed: int, extractor: Extractor) -> dict[str, Any]:
    data = hashlib.sha256(x.contiguous().numpy().tobytes()).hexdigest()[:16]
    return {"version": CACHE_VERSION, "dataset": section, "n": int(len(x)), "seed": seed,
            "extractor": extractor.tag, "extractor_fingerprint": extractor.fingerprint, "data": data}


def cache_file(key: dict[str, Any], cache_dir: str | None) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    split = key["dataset"].get("split", "all")
    name = f"{key['dataset']['name']}-{split}-{key['extractor']}-n{key['n']}-{digest}.npz"
    return cache_root(cache_dir) / "reference" / name


def read_entry(path: Path, key: dict[str, Any]) -> np.ndarray | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as arrays:
            stored = json.loads(arrays["key"].tobytes().decode())
            features = arrays["features"]
    except (OSError, ValueError, KeyError) as err:
        log.warning("reference cache %s unreadable (%s); rebuilding", path, err)
        return None
    if stored != json.loads(json.dumps(key, default=str)):
        log.warning("reference cache %s was built with other settings; rebuilding", path)
        return None
    return features


def reference_features(section: dict[str, Any], n: int, extractor: Extractor, seed: int = 0,
                       cache_dir: str | None = None, use_cache: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """(features (n_ref, D) float64, key) for ``n`` reference samples, cached."""
    x = reference_samples(section, n, seed)
    key = cache_key(section, x, seed, extractor)
    path = cache_file(key, cache_dir)
    if use_cache and (cached := read_entry(path, key)) is not None:
        return cached, key
    features, _ = extract(extractor, x)
    if use_cache:
        blob = np.frombuffer(json.dumps(key, sort_keys=True, default=str).encode(), dtype=np.uint8)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, features=features, key=blob)
    return features, key
