"""Improved precision/recall (Kynkaanniemi et al. 2019) and density/coverage (Naeem et al. 2020).

Each real sample r_i gets a radius rad_k(r_i) = distance to its k-th nearest other real
sample (k=3 for precision/recall, k=5 for density/coverage); fakes likewise for recall.
With M fakes f_j, N reals r_i and strict inequalities::

    precision = 1/M sum_j 1[exists i: ||f_j - r_i|| < rad_3(r_i)]
    recall    = 1/N sum_i 1[exists j: ||r_i - f_j|| < rad_3(f_j)]
    density   = 1/(5 M) sum_j sum_i 1[||f_j - r_i|| < rad_5(r_i)]
    coverage  = 1/N sum_i 1[min_j ||r_i - f_j|| < rad_5(r_i)]

Euclidean distances in float64, computed in row chunks so 10k x 10k never sits in memory."""
from __future__ import annotations

import numpy as np
import torch


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def kth_neighbour_radii(x: torch.Tensor, ks: tuple[int, ...], chunk: int = 1024) -> dict[int, torch.Tensor]:
    """Distance of each row of x to its k-th nearest other row, for each k in ``ks``."""
    if x.shape[0] <= max(ks):
        raise ValueError(f"need more than k={max(ks)} samples for k-NN radii, got {x.shape[0]}")
    # the max(ks)+1 smallest distances of each row: the sample itself sits at distance 0
    small = torch.cat([torch.topk(torch.cdist(x[sl], x), max(ks) + 1, dim=1, largest=False).values
                       for sl in _chunks(x.shape[0], chunk)])
    return {k: small[:, k] for k in ks}


def prdc(real, fake, k_pr: int = 3, k_dc: int = 5, chunk: int = 1024) -> dict[str, float]:
    """real (N, D), fake (M, D) features -> {"precision", "recall", "density", "coverage"}."""
    r, f = (torch.as_tensor(np.asarray(a), dtype=torch.float64) for a in (real, fake))
    if r.ndim != 2 or f.ndim != 2 or r.shape[1] != f.shape[1]:
        raise ValueError(f"need (N, D) real and fake features with equal D, got {tuple(r.shape)} and {tuple(f.shape)}")
    real_rad = kth_neighbour_radii(r, (k_pr, k_dc), chunk)
    fake_rad = kth_neighbour_radii(f, (k_pr,), chunk)[k_pr]
    in_real_pr = torch.zeros(f.shape[0], dtype=torch.bool)
    density_count = torch.zeros(f.shape[0], dtype=torch.float64)
    covered = torch.zeros(r.shape[0], dtype=torch.bool)
    recalled = torch.zeros(r.shape[0], dtype=torch.bool)
    for sl in _chunks(r.shape[0], chunk):
        d = torch.cdist(r[sl], f)                      # (chunk of reals, M)
        in_real_pr |= (d < real_rad[k_pr][sl, None]).any(dim=0)
        inside_dc = d < real_rad[k_dc][sl, None]
        density_count += inside_dc.sum(dim=0)
        covered[sl] = inside_dc.any(dim=1)
        recalled[sl] = (d < fake_rad[None, :]).any(dim=1)
    return {"precision": float(in_real_pr.double().mean()), "recall": float(recalled.double().mean()),
            "density": float(density_count.sum() / (k_dc * f.shape[0])), "coverage": float(covered.double().mean())}
