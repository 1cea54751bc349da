"""Evaluation metrics: pure functions on features/probabilities, a self-describing registry, runners.

Pure functions (float64, pinned against numpy/scipy in tests): ``fid.frechet_distance``,
``fid.fid_from_features``, ``kid.kid``, ``inception_score.inception_score``,
``modified_is.modified_inception_score``, ``precision_recall.prdc``,
``modes.toy_mode_metrics``, ``modes.stacked_mode_metrics``.

Registry (``registry``): every metric's outputs, direction, needs and citation; results named
by protocol (``fid5k_lenet-mnist``). Defaults (``defaults``): the metric set of each data kind.
Runners (``evaluate``): ``evaluate_sampler``, ``evaluate_run`` -> ``ganscape.results`` values.
"""
from ganscape.metrics.defaults import DEFAULT_METRICS, check_metric_list, parse_metrics, resolve_metrics
from ganscape.metrics.registry import (METRICS, Metric, build_metric, direction, format_n, higher_is_better,
                                       metric_family, output_directions)

__all__ = ["DEFAULT_METRICS", "METRICS", "Metric", "build_metric", "check_metric_list", "direction", "format_n",
           "higher_is_better", "metric_family", "output_directions", "parse_metrics", "resolve_metrics"]
