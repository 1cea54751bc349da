"""FID and KID speed and agreement: ganscape vs straightforward scipy/numpy references.

    python benchmarks/metrics_speed.py                 # 10k x 2048 features (the acceptance setting)
    python benchmarks/metrics_speed.py --n 2000 --d 256 --subsets 10
    python benchmarks/metrics_speed.py --threads 1     # pin BLAS threads (steadier on a busy machine)

References: FID as pytorch-fid computes it (``np.cov`` + ``scipy.linalg.sqrtm`` of S1 S2 with
the eps fallback, real part); KID as a Python loop over subsets writing out the three kernel
matrices with ``(X Y^T / d + 1) ** 3``, on the same subset indices. Both sides start from the
same float64 features. Each side runs ``--repeats`` times, alternating with the other, and its
best wall-clock time is kept; on a shared machine the timings stay noisy.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.linalg

from ganscape.metrics.fid import fid_from_features
from ganscape.metrics.kid import kid, subset_indices

from common import machine_line


def reference_fid(f1: np.ndarray, f2: np.ndarray, eps: float = 1e-6) -> float:
    mu1, mu2 = f1.mean(axis=0), f2.mean(axis=0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1.dot(s2))
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((s1 + offset).dot(s2 + offset))
    covmean = covmean.real
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def reference_kid(f1: np.ndarray, f2: np.ndarray, subsets: int, subset_size: int, seed: int) -> tuple[float, float]:
    d = f1.shape[1]
    m = min(subset_size, len(f1), len(f2))
    idx_x, idx_y = subset_indices(len(f1), len(f2), m, subsets, seed)
    values = []
    for ix, iy in zip(idx_x, idx_y):
        x, y = f1[ix], f2[iy]
        k_xx = (x @ x.T / d + 1) ** 3
        k_yy = (y @ y.T / d + 1) ** 3
        k_xy = (x @ y.T / d + 1) ** 3
        values.append((k_xx.sum() - np.diag(k_xx).sum()) / (m * (m - 1))
                      + (k_yy.sum() - np.diag(k_yy).sum()) / (m * (m - 1)) - 2 * k_xy.mean())
    return float(np.mean(values)), float(np.std(values))


def make_features(n: int, d: int, seed: int, shift: float) -> np.ndarray:
    """Inception-like features: non-negative, correlated (low-rank structure plus noise)."""
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(1234).normal(size=(64, d)) / 8
    z = rng.normal(size=(n, 64))
    return np.maximum(z @ basis + 0.5 * rng.normal(size=(n, d)) + shift, 0)


def race(ours, reference, repeats: int):
    """Run the two implementations alternately ``repeats`` times; return both results and
    each one's best wall-clock time (alternating spreads the machine's load changes evenly)."""
    best = [float("inf"), float("inf")]
    out = [None, None]
    for _ in range(repeats):
        for i, fn in enumerate((ours, reference)):
            start = time.perf_counter()
            out[i] = fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return out[0], best[0], out[1], best[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--d", type=int, default=2048)
    p.add_argument("--subsets", type=int, default=100)
    p.add_argument("--subset-size", type=int, default=1000)
    p.add_argument("--threads", type=int, default=0, help="BLAS threads for both sides (0: library default)")
    p.add_argument("--repeats", type=int, default=2, help="time each implementation this many times, keep the best")
    args = p.parse_args()
    print(machine_line())
    if args.threads:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    f1 = make_features(args.n, args.d, 0, 0.0)
    f2 = make_features(args.n, args.d, 1, 0.05)
    print(f"features: 2 x ({args.n}, {args.d}) float64; KID {args.subsets} subsets of {args.subset_size}; "
          f"BLAS threads: {args.threads or 'default'}")

    ours, t_ours, ref, t_ref = race(lambda: fid_from_features(f1, f2), lambda: reference_fid(f1, f2), args.repeats)
    rel = abs(ours - ref) / abs(ref)
    print(f"FID  ours {ours:.10g} in {t_ours:7.2f} s | scipy sqrtm {ref:.10g} in {t_ref:7.2f} s | "
          f"rel diff {rel:.2e} | speed-up {t_ref / t_ours:.2f}x")

    (k_ours, s_ours), t_ours, (k_ref, s_ref), t_ref = race(
        lambda: kid(f1, f2, args.subsets, args.subset_size, 0),
        lambda: reference_kid(f1, f2, args.subsets, args.subset_size, 0), args.repeats)
    rel_k, rel_s = abs(k_ours - k_ref) / abs(k_ref), abs(s_ours - s_ref) / abs(s_ref)
    print(f"KID  ours {k_ours:.10g} +- {s_ours:.4g} in {t_ours:7.2f} s | loop {k_ref:.10g} +- {s_ref:.4g} "
          f"in {t_ref:7.2f} s | rel diff {rel_k:.2e} (std {rel_s:.2e}) | speed-up {t_ref / t_ours:.2f}x")
    ok = rel < 1e-6 and rel_k < 1e-6
    print("agreement to 1e-6:", "yes" if ok else "NO")


if __name__ == "__main__":
    main()
