"""The study report: one self-contained HTML page (``html``) or a CSV table (``csv_table``).

Runs are grouped by dataset (``data.name``); each group is ranked by its metric (the ``--metric`` given, else the
first of the study's ``report.metrics`` that the group has), in the metric's own direction from the metric registry.
A run's score is its value at the last evaluated checkpoint. The page shows, per group: the ranked table with config
deltas, the metric's distribution per factor (box + strip plots, as in Lucic et al. 2018), metric-vs-step curves and
the best runs' samples.
"""
from __future__ import annotations

from pathlib import Path

from ganscape.studies.report.csv_table import write_csv
from ganscape.studies.report.html import render_html, write_html


def write_report(study_dir: str | Path, out: str | Path, metric: str | None = None) -> Path:
    """Write ``out`` as CSV when it ends in ``.csv``, else as a self-contained HTML page."""
    if str(out).lower().endswith(".csv"):
        return write_csv(study_dir, out, metric)
    return write_html(study_dir, out, metric)


__all__ = ["render_html", "write_csv", "write_report"]
