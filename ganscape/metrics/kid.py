"""Kernel Inception Distance (Binkowski et al. 2018) on any feature vectors.

KID is the unbiased estimate of MMD^2 with the cubic polynomial kernel k(x, y) = (x . y / d + 1)^3, averaged over
random subsets. For one subset pair X, Y of size m::

    MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (m (m - 1))
              - 2 sum_{i, j} k(x_i, y_j) / m^2

Each subset draws ``m`` indices without replacement from each set independently (numpy ``Generator(seed)``), as in
torch-fidelity. Default 100 subsets of 1000; the subset size shrinks to the smaller set's size when fewer samples
exist."""
from __future__ import annotations

import numpy as np


def cubic_kernel_sums(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """For one subset pair (m, d): (sum_{i!=j} Kaa, sum_{i!=j} Kbb, sum Kab). ``a @ a.T`` lets numpy use a symmetric
    rank-k update (half the multiply-adds of a general product); this is why subsets run one at a time rather than as
    one batched 3-D matmul, which would lose it. The cube is taken in place (x * x * x, not ``** 3``)."""
    d = a.shape[1]

    def kernel_sum(gram: np.ndarray) -> float:
        gram /= d
        gram += 1.0
        cube = gram * gram
        cube *= gram
        return float(cube.sum())

    diag_a = ((np.einsum("ij,ij->i", a, a) / d + 1.0) ** 3).sum()
    diag_b = ((np.einsum("ij,ij->i", b, b) / d + 1.0) ** 3).sum()
    return kernel_sum(a @ a.T) - diag_a, kernel_sum(b @ b.T) - diag_b, kernel_sum(a @ b.T)


def kid(f1, f2, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KID between (N1, D) and (N2, D) features -> (mean, std over subsets), float64."""
    x, y = np.asarray(f1, dtype=np.float64), np.asarray(f2, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need (N, D) feature sets with equal D, got {x.shape} and {y.shape}")
    m = min(subset_size, x.shape[0], y.shape[0])
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {x.shape[0]} and {y.shape[0]}")
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    idx_x, idx_y = subset_indices(x.shape[0], y.shape[0], m, subsets, seed)
    scores = np.empty(subsets)
    for s in range(subsets):
        kxx, kyy, kxy = cubic_kernel_sums(x[idx_x[s]], y[idx_y[s]])
        scores[s] = (kxx + kyy) / (m * (m - 1)) - 2.0 * kxy / (m * m)
    return float(scores.mean()), float(scores.std())


def subset_indices(n1: int, n2: int, m: int, subsets: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(subsets, m) index arrays into each set: subset s draws X's indices then Y's."""
    rng = np.random.default_rng(seed)
    ix, iy = zip(*[(rng.choice(n1, m, replace=False), rng.choice(n2, m, replace=False)) for _ in range(subsets)])
    return np.stack(ix), np.stack(iy)
