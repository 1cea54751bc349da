"""Frechet Inception Distance (Heusel et al. 2017) on any feature vectors.

FID = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)), Gaussians fitted by the sample mean and the unbiased
(ddof=1) covariance, all in float64.

The trace of the matrix square root is computed without ``scipy.linalg.sqrtm``: for symmetric PSD S1 = R R^T (R a
Cholesky factor, or S1^(1/2) when S1 is singular) the matrix R^T S2 R is symmetric PSD with the same eigenvalues as
S1 S2, so tr((S1 S2)^(1/2)) = sum_i sqrt(lambda_i(R^T S2 R)). A Cholesky factorisation plus one symmetric eigenvalue
solve is much faster than a Schur-based sqrtm and needs no ``eps`` fallback (tiny negative eigenvalues from rounding
are clipped to 0). A distance below 0 by rounding (identical sets) is reported as 0."""
from __future__ import annotations

import numpy as np


def feature_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) features -> (mean (D,), covariance (D, D)), float64, ddof=1."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need (N >= 2, D) features, got shape {f.shape}")
    mu = f.mean(axis=0)
    centred = f - mu
    return mu, centred.T @ centred / (f.shape[0] - 1)


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr((S1 S2)^(1/2)) for symmetric PSD S1, S2."""
    try:
        root = np.linalg.cholesky(s1)
    except np.linalg.LinAlgError:  # singular S1 (e.g. fewer samples than dimensions): its symmetric PSD square root
        w, v = np.linalg.eigh((s1 + s1.T) / 2)
        root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root.T @ s2 @ root
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(w, 0, None)).sum())


def frechet_distance(mu1, s1, mu2, s2) -> float:
    """Frechet distance between N(mu1, s1) and N(mu2, s2); mu (D,), s (D, D)."""
    mu1, s1, mu2, s2 = (np.asarray(a, np.float64) for a in (mu1, s1, mu2, s2))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != mu1.shape * 2:
        raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, sigma {s1.shape} vs {s2.shape}")
    if not all(np.isfinite(a).all() for a in (mu1, s1, mu2, s2)):  # overflowing features: no distance to measure
        return float("nan")
    diff = mu1 - mu2
    distance = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt_product(s1, s2))
    return max(distance, 0.0)  # a squared distance, below 0 only by rounding (-3.8e-6: 50 by 128 against itself)


def fid_from_features(f1, f2) -> float:
    """FID between two (N, D) feature sets (N may differ)."""
    return frechet_distance(*feature_stats(f1), *feature_stats(f2))
