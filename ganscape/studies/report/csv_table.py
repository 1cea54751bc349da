"""The study as a CSV table: one row per task with its factors, final values and outcome, then one row per
configuration (the runs that differ only in the seed) with the mean, std and n of each metric over its seeds.

Text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return) are prefixed with a single quote (OWASP's CSV-injection advice).
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from ganscape.studies.report.analysis import Configuration, configurations
from ganscape.studies.report.runs import Group, Run, group_runs, last_line, ranked
from ganscape.studies.report.stability import ranks_per_seed
from ganscape.studies.store import Store
from ganscape.utils.io import atomic_write_text

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def number_cell(value: float | None) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(float(value))


LEAD_COLUMNS = ("row", "rank", "task", "name", "data.name", "status")
TAIL_COLUMNS = ("train_seconds", "eval_seconds", "note", "error", "config_deltas", "rank_per_seed")


def factor_column(factor: str) -> str:
    """A grid axis's column: its key, or ``factor:KEY`` when that is the name of another column (an axis over
    ``data.name`` gave the header two ``data.name`` columns, and a CSV reader kept one)."""
    return f"factor:{factor}" if factor in (*LEAD_COLUMNS, *TAIL_COLUMNS, "final_step") else factor


def write_csv(study_dir: str | Path, out: str | Path, metric: str | None = None) -> Path:
    """Rows ``run`` (one per task: rank in its group, factors, status, final metrics, timings, deltas, error), then rows
    ``configuration`` (one per configuration, its seeds pooled: the metric columns hold the mean over seeds,
    ``METRIC:std`` the sample std and ``METRIC:n`` the count; ``task`` and ``seed`` list its runs, ``rank_per_seed``
    its rank under each of those seeds alone, as in the HTML report)."""
    with Store(study_dir, create=False, read_only=True) as store:
        groups = group_runs(store, metric)
    runs = [run for g in groups for run in g.runs]
    factors = list(dict.fromkeys(k for run in runs for k in run.task["factors"]))
    metrics = sorted({m for run in runs for m in run.final})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([*LEAD_COLUMNS, *[text_cell(factor_column(f)) for f in factors], "final_step",
                     *map(text_cell, metrics), *[text_cell(f"{m}:{s}") for m in metrics for s in ("std", "n")],
                     *TAIL_COLUMNS])
    for group in groups:
        writer.writerows(run_row(run, pos, group, factors, metrics) for pos, run in enumerate(group.runs, start=1))
    for group in groups:
        configs = configurations(group.runs, group.order)
        per_seed = ranks_per_seed(configs, group.order)
        writer.writerows(config_row(c, pos, group, factors, metrics, ranks)
                         for pos, (c, ranks) in enumerate(zip(configs, per_seed), start=1))
    atomic_write_text(out, buf.getvalue())
    return Path(out)


def run_row(run: Run, pos: int, group: Group, factors: list[str], metrics: list[str]) -> list[str]:
    t = run.task
    return ["run", pos if ranked(run, group.metric) else "", t["id"], text_cell(t["name"]), text_cell(run.dataset),
            t["status"], *[text_cell(t["factors"].get(f, "")) for f in factors],
            run.final_step if run.final_step is not None else "", *[number_cell(run.final.get(m)) for m in metrics],
            *[""] * (2 * len(metrics)), number_cell(t["train_seconds"]), number_cell(t["eval_seconds"]),
            text_cell(t["note"]), text_cell(last_line(t["error"])), text_cell("; ".join(run.deltas)), ""]


def config_row(config: Configuration, pos: int, group: Group, factors: list[str], metrics: list[str],
               seed_ranks: dict[str, int]) -> list[str]:
    stats = [config.stats.get(m) for m in metrics]
    cells = {f: config.factor(f) for f in factors} | {"seed": ";".join(config.seeds)}
    return ["configuration", pos if config.mean(group.metric or "") is not None else "",
            ";".join(str(r.id) for r in config.runs), text_cell(config.label), text_cell(group.dataset), "",
            *[text_cell(cells.get(f, "")) for f in factors], "", *[number_cell(s and s.mean) for s in stats],
            *[cell for s in stats for cell in (number_cell(s and s.std), s.n if s else "")],
            "", "", "", "", text_cell("; ".join(config.deltas)),
            ";".join(str(seed_ranks.get(seed, "")) for seed in config.seeds)]
