"""Evaluation metrics: pure functions on features/probabilities plus runners.

Pure functions (float64, pinned against numpy/scipy in tests):
``fid.frechet_distance``, ``fid.fid_from_features``, ``kid.kid``,
``inception_score.inception_score``, ``modified_is.modified_inception_score``,
``precision_recall.prdc``, ``modes.toy_mode_metrics``, ``modes.stacked_mode_metrics``.

Runners: ``evaluate_generator(gen, metrics, n, ...)`` and ``evaluate_run(run_dir, ...)``
return ``{protocol_name: value}``, e.g. ``{"fid5k_lenet-mnist": 3.2}`` (see ``registry``).
"""
from ganscape.metrics.registry import METRICS, Metric, build_metric, format_n, parse_metrics
from ganscape.metrics.evaluate import evaluate_generator, evaluate_run

__all__ = ["METRICS", "Metric", "build_metric", "format_n", "parse_metrics", "evaluate_generator", "evaluate_run"]
