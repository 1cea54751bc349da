"""Score one checkpoint of a run for a study.

Uses ``ganscape.metrics.evaluate_run`` (FID/KID/modes protocols) when that module provides
it; otherwise falls back to the toy mode metrics for Gaussian-mixture runs, and to nothing
(an empty dict) for image runs.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

# Whether a larger value of a metric is better (unknown metrics are taken as lower-is-better).
HIGHER_IS_BETTER = {
    "modes": True, "hq_share": True, "inception_score": True, "is": True, "precision": True,
    "recall": True, "accuracy": True, "reverse_kl": False, "fid": False, "kid": False,
}


def metric_family(metric: str) -> str | None:
    """The known metric a protocol name belongs to: ``reverse_kl2500_toy`` -> ``reverse_kl``."""
    name = metric.lower()
    for family in sorted(HIGHER_IS_BETTER, key=len, reverse=True):
        if name == family or (name.startswith(family) and (name[len(family)] in "_0123456789")):
            return family
    return None


def higher_is_better(metric: str) -> bool:
    family = metric_family(metric)
    return HIGHER_IS_BETTER.get(family, False) if family else False


def _evaluate_run():
    try:
        from ganscape.metrics import evaluate_run
    except ImportError:
        return None
    return evaluate_run


def evaluate_checkpoint(run_dir: str | Path, step: int, eval_spec: dict[str, Any]) -> dict[str, float]:
    """Metric name -> value for the checkpoint at ``step``. ``eval_spec`` is the study's
    ``eval`` section: ``metrics`` (names, or ``[default]`` for the dataset's protocol) and
    ``n`` (samples drawn)."""
    metrics = [m for m in eval_spec.get("metrics", []) if m != "default"]
    n = int(eval_spec.get("n", 2000))
    evaluate_run = _evaluate_run()
    if evaluate_run is not None:
        values = evaluate_run(run_dir, metrics or default_metrics(run_dir), n, checkpoint=step)
        return {str(k): float(v) for k, v in values.items() if isinstance(v, (int, float))}
    return _toy_fallback(run_dir, step, n)


def default_metrics(run_dir: str | Path) -> list[str]:
    """The dataset's protocol: mode metrics for 2-D mixtures, FID and KID for images."""
    from ganscape.loading import read_run_config

    data = read_run_config(run_dir)["data"]["name"]
    return ["modes"] if data in ("ring8", "grid25") else ["fid", "kid"]


def _toy_fallback(run_dir: str | Path, step: int, n: int) -> dict[str, float]:
    from ganscape.loading import load_generator
    from ganscape.metrics.modes import toy_mode_metrics

    gen = load_generator(run_dir, step, device="cpu")
    info = gen.data_meta.get("info", {})
    if "centers" not in info:
        return {}
    values = toy_mode_metrics(gen.sample(n, seed=0), info["centers"], float(info["std"]))
    return {k: float(v) for k, v in values.items() if not (isinstance(v, float) and math.isnan(v))}
