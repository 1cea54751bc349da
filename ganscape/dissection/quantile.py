"""Per-unit quantiles of activations seen in batches, in memory that does not grow with the sample count.

Each unit keeps a histogram of ``bins`` equal-width bins over a range that starts at the first batch's min and max and
doubles (merging neighbouring bins) whenever a value falls outside. Growing one side at a time, the range can end up
to four times the data's span (e.g. [0, 1], then -0.01, then 1.01 gives a range of 4). A quantile is read by linear
interpolation inside its bin: the error is at most one bin width, 4 * span / bins, i.e. under 5e-4 of the
activation range with the default 8192 bins. (The reference tool uses a randomised sketch; a histogram is exact to
a known resolution and vectorises over units.) Non-finite activations are an error: they mean a broken model."""
from __future__ import annotations

import torch

from ganscape.registry import ConfigError


class StreamingQuantile:
    """``add(values (U, N))`` for U units; ``quantile(q)`` -> (U,) values below which a share q of each unit's lie."""

    def __init__(self, units: int, bins: int = 8192):
        self.units, self.bins = units, bins
        self.counts = torch.zeros(units, bins, dtype=torch.float64)
        self.low = torch.zeros(units, dtype=torch.float64)
        self.width = torch.zeros(units, dtype=torch.float64)  # 0 until the first batch
        self.total = 0

    def add(self, values: torch.Tensor) -> None:
        values = values.detach().to(torch.float64).cpu().reshape(self.units, -1)
        if values.shape[1] == 0:
            return
        if not bool(torch.isfinite(values).all()):
            raise ConfigError("dissect: the layer produced NaN or inf activations; the generator is broken "
                              "(diverged weights?) and cannot be dissected")
        lo, hi = values.min(dim=1).values, values.max(dim=1).values
        if self.total == 0:
            span = torch.clamp(hi - lo, min=1e-12)
            self.low, self.width = lo - 1e-9 * span, span * (1 + 2e-9) / self.bins
        self.grow(lo, hi)
        index = ((values - self.low[:, None]) / self.width[:, None]).floor().long().clamp_(0, self.bins - 1)
        index += torch.arange(self.units)[:, None] * self.bins  # one bincount over all units' bins
        self.counts += torch.bincount(index.flatten(), minlength=self.units * self.bins).reshape(self.units, -1)
        self.total += values.shape[1]

    def grow(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        """Double the range of units whose new values fall outside it, until they fit."""
        while True:
            top = self.low + self.width * self.bins
            below, above = lo < self.low, hi >= top
            outside = below | above
            if not bool(outside.any()):
                return
            merged = self.counts[outside].reshape(-1, self.bins // 2, 2).sum(dim=2)
            grown = torch.zeros(int(outside.sum()), self.bins, dtype=torch.float64)
            downward = below[outside]  # extend downwards: old bins land in the upper half
            grown[~downward, : self.bins // 2] = merged[~downward]
            grown[downward, self.bins // 2:] = merged[downward]
            self.counts[outside] = grown
            span = self.width[outside] * self.bins
            self.low[outside] = torch.where(downward, self.low[outside] - span, self.low[outside])
            self.width[outside] = self.width[outside] * 2

    def quantile(self, q: float) -> torch.Tensor:
        """(U,) float64: the q-quantile of each unit (0 <= q <= 1)."""
        cumulative = self.counts.cumsum(dim=1)
        target = torch.as_tensor(q * self.total, dtype=torch.float64).clamp(0, self.total)
        index = torch.searchsorted(cumulative, target.expand(self.units, 1).contiguous()).clamp_(max=self.bins - 1)
        zeros = torch.zeros(self.units, 1, dtype=torch.float64)
        before = torch.where(index > 0, cumulative.gather(1, (index - 1).clamp(min=0)), zeros)
        inside = self.counts.gather(1, index)
        fraction = torch.where(inside > 0, (target - before) / inside, torch.zeros_like(inside)).clamp(0, 1)
        return (self.low[:, None] + (index + fraction) * self.width[:, None]).squeeze(1)
