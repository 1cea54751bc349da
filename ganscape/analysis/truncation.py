"""The truncation trick at sampling time (StyleGAN-style generators keep ``w_avg``)."""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

from torch import nn

from ganscape.interfaces import StyleBased
from ganscape.registry import ConfigError


@contextmanager
def truncation(G: nn.Module, psi: float | None) -> Iterator[nn.Module]:
    """Within the block, G (in eval mode) uses w' = w_avg + psi (w - w_avg) on its first layers.

    ``psi`` None or 1 leaves G untouched; other values need a StyleGAN-style generator."""
    if psi is None or psi == 1.0:
        yield G
        return
    if not isinstance(G, StyleBased):
        raise ConfigError(f"--truncation: this generator ({type(G).__name__}) has no tracked w_avg; "
                          "the truncation trick needs generator.name=stylegan")
    check_psi(psi)
    old, G.truncation_psi = G.truncation_psi, float(psi)
    try:
        yield G
    finally:
        G.truncation_psi = old


def check_psi(psi: float) -> None:
    """``--truncation`` must be a finite number >= 0 (NaN included in the refusal)."""
    if not 0 <= psi < math.inf:
        raise ConfigError(f"--truncation: must be a finite number >= 0 (1 = off, 0 = the average w on the first "
                          f"truncation_cutoff layers), got {psi}")
