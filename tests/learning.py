"""Learning checks shared by tests: the PacGAN/VEEGAN toy protocol on a trained result."""
from __future__ import annotations

from ganscape.metrics.modes import toy_mode_metrics
from ganscape.training.callbacks import eval_mode


def toy_modes(result, n: int = 2500, seed: int = 1) -> dict[str, float]:
    """Modes captured, high-quality share and reverse KL of ``n`` samples of a fit's sampling
    generator (EMA when kept) on its toy mixture."""
    parts = result.parts
    sampler = parts.sampler({**parts.modules(), **result.averaged}, 0)
    with eval_mode([sampler.G]):
        x = sampler.sample(n, seed=seed)
    info = parts.dataset.info
    return toy_mode_metrics(x, info["centers"], info["std"])
