"""Mode metrics for 2-D Gaussian mixtures (PacGAN / VEEGAN protocol).

A sample is *high quality* if it lies within ``3 * std`` of its nearest centre; a mode is *captured* if it is the
nearest centre of at least one high-quality sample. The reverse KL is KL(p_gen || uniform) over the modes, where p_gen
is the histogram of nearest centres of the high-quality samples (natural log; 0 for a perfect match, log(M) for one
mode)."""
from __future__ import annotations

import math

import torch


def toy_mode_metrics(samples: torch.Tensor, centers: torch.Tensor, std: float, threshold: float = 3.0) -> dict[str, float]:
    """samples (N, 2), centers (M, 2) -> {"modes": captured count, "hq_share": fraction in
    [0, 1], "reverse_kl": nats}. With no high-quality sample ``reverse_kl`` is inf."""
    samples, centers = samples.detach().double().cpu(), centers.detach().double().cpu()
    nearest_dist, nearest = torch.cdist(samples, centers).min(dim=1)
    hq = nearest_dist <= threshold * std
    counts = torch.bincount(nearest[hq], minlength=len(centers)).double()
    if counts.sum() == 0:
        reverse_kl = math.inf
    else:
        p = counts / counts.sum()
        nz = p > 0
        reverse_kl = float((p[nz] * torch.log(p[nz] * len(centers))).sum())
    return {"modes": int((counts > 0).sum()), "hq_share": float(hq.double().mean()), "reverse_kl": reverse_kl}


def stacked_mode_metrics(digits: torch.Tensor, num_digits: int = 3, classes: int = 10) -> dict[str, float]:
    """Stacked MNIST modes (VEEGAN / PacGAN protocol): digits (N, num_digits), the predicted digit per channel ->
    {"modes": number of distinct digit tuples seen (of classes**num_digits = 1000), "kl": KL(p_gen || uniform) over all
    1000 modes in nats, p_gen the histogram of the N tuples}."""
    digits = torch.as_tensor(digits).long().cpu()
    if digits.ndim != 2 or digits.shape[1] != num_digits:
        raise ValueError(f"need (N, {num_digits}) digit predictions, got shape {tuple(digits.shape)}")
    if len(digits) and (int(digits.min()) < 0 or int(digits.max()) >= classes):
        raise ValueError(f"digit predictions must lie in 0..{classes - 1}, got {int(digits.min())}.."
                         f"{int(digits.max())} (another id would count as another tuple's mode)")
    weights = classes ** torch.arange(num_digits - 1, -1, -1)
    mode = (digits * weights).sum(dim=1)
    total = classes ** num_digits
    counts = torch.bincount(mode, minlength=total).double()
    p = counts / counts.sum()
    nz = p > 0
    return {"modes": int(nz.sum()), "kl": float((p[nz] * torch.log(p[nz] * total)).sum())}
