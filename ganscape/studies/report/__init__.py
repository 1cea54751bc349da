"""The study report: one self-contained HTML page (``html``) or a CSV table (``csv_table``).

Runs are grouped by dataset (``data.name``); each group is ranked by its metric (the ``--metric`` given, else the
first of the study's ``report.metrics`` that the group has), in the metric's own direction from the metric registry.
A toy-mixture group (its runs have ``modes``, ``hq_share`` and ``reverse_kl``) without a ``--metric`` it has is ranked
by the published protocol instead: lexicographically by modes captured (higher), then the high-quality share
(higher), then the reverse KL (lower) (``runs``). A run's score is its value at the last evaluated checkpoint.

The page shows, per group (``analysis`` and ``stability`` compute, ``plots`` draws): the configurations (runs that
differ only in the seed, pooled: mean, sample std and n of each metric), ranked by their mean, with each one's rank
under each seed alone and how much the seeds agree on the order; every run (collapsed); per factor
and level the best, median and worst configuration; the expected best score at a budget of k runs per level of one
factor (Lucic et al. 2018, "Are GANs Created Equal?"); the metric's distribution per factor (box + strip plots);
metric-vs-step curves and the best runs' samples. The CSV has a row per run and a row per configuration.
"""
from __future__ import annotations

from pathlib import Path

from ganscape.studies.report.csv_table import write_csv
from ganscape.studies.report.html import render_html, write_html


def write_report(study_dir: str | Path, out: str | Path, metric: str | None = None, factor: str | None = None) -> Path:
    """Write ``out`` as CSV when it ends in ``.csv``, else as a self-contained HTML page (``factor``: the budget plot's
    factor, default ``loss.name`` when it varies, else the first grid axis that varies)."""
    if str(out).lower().endswith(".csv"):
        return write_csv(study_dir, out, metric)
    return write_html(study_dir, out, metric, factor)


__all__ = ["render_html", "write_csv", "write_report"]
