"""Inception Score (Salimans et al. 2016) from class probabilities.

IS = exp(E_x KL(p(y|x) || p(y))), with p(y) the mean of p(y|x) over the chunk. The N samples are split into ``splits``
contiguous chunks (``numpy.array_split``); the score is computed per chunk and reported as (mean, std) with the
population std (ddof=0), as in the original TensorFlow code. float64; terms with p(y|x) = 0 contribute 0."""
from __future__ import annotations

import numpy as np


def kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL(p_i || q) for each row of p (N, C) against q (C,) or rows of q (N, C), in nats."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return terms.sum(axis=-1)


def check_probs(probs) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"need (N, C) class probabilities, got shape {p.shape}")
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("rows of probs must be probability vectors (non-negative, summing to 1)")
    return p


def inception_score(probs, splits: int = 10) -> tuple[float, float]:
    """(N, C) probabilities p(y|x) -> (mean, std) of the IS over ``splits`` chunks."""
    p = check_probs(probs)
    if not 1 <= splits <= p.shape[0]:
        raise ValueError(f"splits must be in [1, N={p.shape[0]}], got {splits}")
    scores = [np.exp(kl_rows(chunk, chunk.mean(axis=0)).mean()) for chunk in np.array_split(p, splits)]
    return float(np.mean(scores)), float(np.std(scores))
