"""Reference (real-data) features, cached on disk.

An entry is keyed by the protocol name (e.g. ``ref50k_inception``), the dataset section (which includes its split),
the number of reference samples and their selection seed, the extractor (tag and weights fingerprint), the data
(for a prepared dataset its manifest hash and the chosen indices, else a hash of the samples) and ``CACHE_VERSION``. The key
is hashed into the file name *and* stored inside the file; on load the stored key must equal the expected one, so an
entry built with other settings is never silently reused (it is rebuilt instead).

Within one process the features are also kept in memory (``ganscape.metrics.cache``), keyed by the dataset section,
n, seed, extractor tag and fingerprint, cache folder, data root and, for a prepared dataset, its manifest hash, so a
study worker evaluating many checkpoints reads and hashes the reference data once, not once per checkpoint (data
files that change under a running process without a new manifest are not noticed until the next process);
``use_cache=False`` bypasses both caches.

Under torchrun rank 0 alone reads, keeps and writes the entry, and alone computes the metrics from it. When it has
none, the ranks share the work: each featurises its share of the chunks of reference samples and the shares are
joined in order on rank 0."""
from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ganscape.distributed.data_parallel import (computed_on_every_rank, decided_on_main, exactly_float32,
                                                gathered_on_main, world)
from ganscape.features.extractor import Extractor, extract
from ganscape.metrics import cache as memory
from ganscape.metrics.registry import format_n
from ganscape.paths import cache_root, data_root
from ganscape.registry import ConfigError
from ganscape.sampling import share
from ganscape.utils.io import atomic_path

log = logging.getLogger(__name__)
CACHE_VERSION = "ref-v2"
CHUNK = 2048  # reference samples read and featurised at a time


def reference_indices(size: int, n: int, seed: int = 0) -> torch.Tensor:
    """Which samples are the reference: a seeded random ``n`` of ``size`` (sorted), or all of them when n >= size."""
    if n >= size:
        return torch.arange(size)
    return torch.randperm(size, generator=torch.Generator().manual_seed(seed))[:n].sort().values


def reference_samples(section: dict[str, Any], n: int, seed: int = 0) -> torch.Tensor:
    """``n`` samples of the dataset (a seeded random subset; all of it when it has <= n)."""
    from ganscape.data import build_dataset

    ds = build_dataset(section, key="reference")
    return torch.cat([ds.get(chunk)[0] for chunk in reference_indices(len(ds), n, seed).split(CHUNK)])


def data_fingerprint(ds, idx: torch.Tensor) -> str:
    """What the reference samples are: a prepared dataset's manifest hash and the chosen indices, else a hash of
    the samples themselves (read in chunks, never all at once)."""
    digest = hashlib.sha256()
    if "manifest" in ds.info:
        digest.update(f"manifest:{ds.info['manifest']}:".encode())
        digest.update(idx.numpy().tobytes())
    else:
        for chunk in idx.split(CHUNK):
            digest.update(ds.get(chunk)[0].contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def cache_key(section: dict[str, Any], n: int, data: str, seed: int, extractor: Extractor) -> dict[str, Any]:
    return {"version": CACHE_VERSION, "protocol": f"ref{format_n(n)}_{extractor.tag}", "dataset": section, "n": n,
            "seed": seed, "extractor": extractor.tag, "extractor_fingerprint": extractor.fingerprint, "data": data}


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
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        log.warning("reference cache %s unreadable (%s); rebuilding", path, err)
        return None
    if stored != json.loads(json.dumps(key, default=str)):
        log.warning("reference cache %s was built with other settings; rebuilding", path)
        return None
    return features


def reference_features(section: dict[str, Any], n: int, extractor: Extractor, seed: int = 0,
                       cache_dir: str | None = None, use_cache: bool = True,
                       dataset=None) -> tuple[np.ndarray | None, dict[str, Any] | None]:
    """(features (n_ref, D) float64, key) for ``n`` reference samples, cached. Samples are read and featurised in
    chunks, so a 200k-image split never sits in memory as floats; the cache stores the extractor's float32 output
    exactly (as float32), from which FID's mean and covariance, KID and precision/recall are computed.

    With ``use_cache`` the array returned is the one kept in this process's memory (read-only; the same object for
    the next call with the same settings), so metrics can keep what they derive from it (``cache.derived``).
    ``dataset``: the one ``section`` builds, when the caller has built it already (a folder of images is decoded
    once). Under torchrun every rank calls this; rank 0 alone gets the features, the others (None, None)."""
    from ganscape.data import build_dataset

    ds = dataset if dataset is not None else computed_on_every_rank(lambda: build_dataset(section, key="reference"))
    memo = memo_key(section, n, extractor, seed, cache_dir, ds)
    found, hit = decided_on_main(lambda: finite_reference(cached_features(section, n, extractor, seed, cache_dir,
                                                                          use_cache, ds, memo)),
                                 lambda result: result[0] is not None)  # rank 0: (features or None, key)
    if hit:
        return found or (None, None)
    idx = reference_indices(len(ds), n, seed)
    features = gathered_on_main(computed_on_every_rank(
        lambda: featurised(extractor, ds, share(idx.split(CHUNK), world()))))
    stored, _ = decided_on_main(lambda: kept(*finite_reference((features, found[1])), use_cache, cache_dir, memo),
                                lambda result: None)
    return stored or (None, None)


def finite_reference(found: tuple[np.ndarray | None, Any]) -> tuple[np.ndarray | None, Any]:
    """``found`` (features or None, key), refused when a reference sample's features are NaN or inf (data holding
    NaN: FID and KID came out NaN, blamed on no one, while precision, recall, density and coverage silently left
    those samples out). Checked before the features are cached, and on features read from the cache."""
    features = found[0]
    if features is not None:
        bad = ~np.isfinite(features).all(axis=1)
        if bad.any():
            raise ConfigError(f"--reference: {int(bad.sum())} of {len(features)} reference samples give NaN or inf "
                              f"features (first: reference sample {int(np.flatnonzero(bad)[0])} of those drawn); the "
                              "reference data holds NaN or inf values: clean it, or choose another --reference")
    return found


def kept(features: np.ndarray, key: dict[str, Any], use_cache: bool, cache_dir: str | None,
         memo: tuple) -> tuple[np.ndarray, dict[str, Any]]:
    """(features, key), with ``use_cache`` written to the disk cache and kept in this process's memory."""
    if not use_cache:
        return features, key
    path = cache_file(key, cache_dir)
    try:
        write_entry(path, key, features)
    except OSError as err:  # a full or read-only cache: the features are right, the next run recomputes
        log.warning("warning: reference cache %s not written (%s); the features are used without it", path, err)
    return memory.remember(memo, features, key), key


def memo_key(section: dict[str, Any], n: int, extractor: Extractor, seed: int, cache_dir: str | None,
             ds) -> tuple:
    """What selects a reference set in this process's memory (``ganscape.metrics.cache``)."""
    return (json.dumps(section, sort_keys=True, default=str), n, seed, extractor.tag, extractor.fingerprint,
            str(cache_root(cache_dir)), str(data_root()), str(ds.info.get("manifest")), len(ds))


def cached_features(section: dict[str, Any], n: int, extractor: Extractor, seed: int, cache_dir: str | None,
                    use_cache: bool, ds, memo: tuple) -> tuple[np.ndarray | None, dict[str, Any]]:
    """(the reference features from this process's memory (under ``memo``) or the disk cache, or None; the cache
    key)."""
    remembered = memory.lookup(memo) if use_cache else None
    if remembered is not None:
        return remembered.features, remembered.key
    idx = reference_indices(len(ds), n, seed)
    key = cache_key(section, len(idx), data_fingerprint(ds, idx), seed, extractor)
    cached = read_entry(cache_file(key, cache_dir), key) if use_cache else None
    if cached is None:
        return None, key
    return memory.remember(memo, cached.astype(np.float64), key), key


def write_entry(path: Path, key: dict[str, Any], features: np.ndarray) -> None:
    """Store ``features`` under ``key`` (atomically: a reader sees the whole entry or none)."""
    blob = np.frombuffer(json.dumps(key, sort_keys=True, default=str).encode(), dtype=np.uint8)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, features=stored_features(features), key=blob)


def featurised(extractor: Extractor, ds, chunks: Sequence[torch.Tensor]) -> np.ndarray | None:
    """The extractor's features of the samples at each chunk of indices, joined (None for no chunks: under torchrun
    each rank featurises its share of the chunks, ``ganscape.sampling.share``)."""
    return np.concatenate([extract(extractor, ds.get(chunk)[0])[0] for chunk in chunks]) if chunks else None


def stored_features(features: np.ndarray) -> np.ndarray:
    """float32 when that is exact (network outputs are float32), else float64 (e.g. raw double samples)."""
    return features.astype(np.float32) if exactly_float32(features) else features
