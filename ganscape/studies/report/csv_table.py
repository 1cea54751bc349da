"""The study as a CSV table: one row per task with its factors, final values and outcome.

Text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return) are prefixed with a single quote (OWASP's CSV-injection advice).
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from ganscape.studies.report.runs import group_runs, last_line
from ganscape.studies.store import Store
from ganscape.utils.io import atomic_write_text

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def number_cell(value: float | None) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(float(value))


def write_csv(study_dir: str | Path, out: str | Path, metric: str | None = None) -> Path:
    """One row per task: factors, status, final metrics, timings, deltas, error."""
    with Store(study_dir, create=False) as store:
        groups = group_runs(store, metric)
    runs = [run for g in groups for run in g.runs]
    factors = list(dict.fromkeys(k for run in runs for k in run.task["factors"]))
    metrics = sorted({m for run in runs for m in run.final})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["task", "name", "data.name", "status", *map(text_cell, factors), "final_step",
                     *map(text_cell, metrics), "train_seconds", "eval_seconds", "note", "error", "config_deltas"])
    for run in runs:
        t = run.task
        writer.writerow([t["id"], text_cell(t["name"]), text_cell(run.dataset), t["status"],
                         *[text_cell(t["factors"].get(f, "")) for f in factors],
                         run.final_step if run.final_step is not None else "",
                         *[number_cell(run.final.get(m)) for m in metrics],
                         number_cell(t["train_seconds"]), number_cell(t["eval_seconds"]), text_cell(t["note"]),
                         text_cell(last_line(t["error"])), text_cell("; ".join(run.deltas))])
    atomic_write_text(out, buf.getvalue())
    return Path(out)
