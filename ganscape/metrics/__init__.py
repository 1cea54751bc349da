"""Evaluation metrics: pure functions on features/probabilities (float64, pinned against numpy/scipy in tests:
``fid``, ``kid``, ``inception_score``, ``modified_is``, ``precision_recall``, ``modes``), a self-describing registry
(``registry``: every metric's outputs, direction, needs and citation; results named by protocol, e.g.
``fid5k_lenet-mnist``), the default metric set of each data kind (``defaults``) and runners (``evaluate``:
``evaluate_sampler``, ``evaluate_run``) -> ``ganscape.results`` values."""
from ganscape.metrics.defaults import DEFAULT_METRICS, check_metric_list, parse_metrics, resolve_metrics
from ganscape.metrics.registry import (METRICS, Metric, build_metric, direction, format_n, higher_is_better,
                                       metric_family, output_directions)

__all__ = ["DEFAULT_METRICS", "METRICS", "Metric", "build_metric", "check_metric_list", "direction", "format_n",
           "higher_is_better", "metric_family", "output_directions", "parse_metrics", "resolve_metrics"]
