"""Learning checks shared by tests: the PacGAN/VEEGAN toy protocol on a trained result."""
from __future__ import annotations

from ganscape.metrics import metric_family
from ganscape.metrics.evaluate import evaluate_result


def toy_modes(result, seed: int = 1) -> dict[str, float]:
    """{modes, hq_share, reverse_kl} of 2,500 samples of a fit's sampling generator (EMA when kept)."""
    return {metric_family(v.metric): v.value for v in evaluate_result(result, ["modes"], 2500, seed=seed)}
