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

import warnings

import numpy as np
import torch

OUTPUTS = ("precision", "recall", "density", "coverage")


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def as_features(a, device: str | torch.device | None = None) -> torch.Tensor:
    """(N, D) features as a float64 tensor on ``device`` (default: where they are; CPU for arrays), sharing memory
    with a float64 array when it can (read-only arrays included: the tensor is only read)."""
    if isinstance(a, torch.Tensor):
        t = a.to(torch.float64)
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            t = torch.as_tensor(np.asarray(a, dtype=np.float64))
    return t if device is None else t.to(device)


def kth_neighbour_radii(x: torch.Tensor, ks: tuple[int, ...], chunk: int = 1024) -> dict[int, torch.Tensor]:
    """Distance of each row of x to its k-th nearest other row, for each k in ``ks``."""
    if x.shape[0] <= max(ks):
        raise ValueError(f"need more than k={max(ks)} samples for k-NN radii, got {x.shape[0]}")
    # the max(ks)+1 smallest distances of each row: the sample itself sits at distance 0
    small = torch.cat([torch.topk(torch.cdist(x[sl], x), max(ks) + 1, dim=1, largest=False).values
                       for sl in _chunks(x.shape[0], chunk)])
    return {k: small[:, k] for k in ks}


def prdc(real, fake, k_pr: int = 3, k_dc: int = 5, chunk: int = 1024, device: str | torch.device | None = None,
         outputs: tuple[str, ...] = OUTPUTS, real_radii: dict[int, torch.Tensor] | None = None) -> dict[str, float]:
    """real (N, D), fake (M, D) features -> {"precision", "recall", "density", "coverage"}.

    The distances are computed on ``device`` (default: the CPU, or where tensors already are) in chunks of ``chunk``
    rows with ``torch.cdist``. ``outputs`` names the outputs wanted (only those are computed and returned: density
    and coverage need no fake-fake distances). ``real_radii`` are the real features' k-NN radii
    ``kth_neighbour_radii(real, ks)`` for the k's needed when already known (e.g. kept from an earlier evaluation
    against the same reference); they are computed here otherwise."""
    unknown = set(outputs) - set(OUTPUTS)
    if unknown:
        raise ValueError(f"unknown prdc outputs {sorted(unknown)}; valid: {', '.join(OUTPUTS)}")
    r, f = as_features(real, device), as_features(fake, device)
    if r.ndim != 2 or f.ndim != 2 or r.shape[1] != f.shape[1]:
        raise ValueError(f"need (N, D) real and fake features with equal D, got {tuple(r.shape)} and {tuple(f.shape)}")
    want_pr = "precision" in outputs or "recall" in outputs
    want_dc = "density" in outputs or "coverage" in outputs
    ks = tuple(sorted({k for k, wanted in ((k_pr, want_pr), (k_dc, want_dc)) if wanted}))
    if not ks:
        return {}
    if real_radii is None or any(k not in real_radii for k in ks):
        real_radii = kth_neighbour_radii(r, ks, chunk)
    real_rad = {k: real_radii[k].to(r.device) for k in ks}
    fake_rad = kth_neighbour_radii(f, (k_pr,), chunk)[k_pr] if "recall" in outputs else None
    in_real_pr = torch.zeros(f.shape[0], dtype=torch.bool, device=r.device)
    density_count = torch.zeros(f.shape[0], dtype=torch.float64, device=r.device)
    covered = torch.zeros(r.shape[0], dtype=torch.bool, device=r.device)
    recalled = torch.zeros(r.shape[0], dtype=torch.bool, device=r.device)
    for sl in _chunks(r.shape[0], chunk):
        d = torch.cdist(r[sl], f)                      # (chunk of reals, M)
        if "precision" in outputs:
            in_real_pr |= (d < real_rad[k_pr][sl, None]).any(dim=0)
        if want_dc:
            inside_dc = d < real_rad[k_dc][sl, None]
            density_count += inside_dc.sum(dim=0)
            covered[sl] = inside_dc.any(dim=1)
        if fake_rad is not None:
            recalled[sl] = (d < fake_rad[None, :]).any(dim=1)
    out = {"precision": float(in_real_pr.double().mean()), "recall": float(recalled.double().mean()),
           "density": float(density_count.sum() / (k_dc * f.shape[0])), "coverage": float(covered.double().mean())}
    return {name: out[name] for name in OUTPUTS if name in outputs}
