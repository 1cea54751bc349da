"""The study report as one self-contained HTML page: plots and samples inlined as base64 PNG,
every text escaped, failures as their last line with the traceback behind a click."""
from __future__ import annotations

import base64
import math
import time
from pathlib import Path

from ganscape.studies.execute import run_dir_for
from ganscape.studies.report.plots import curves_plot, distribution_plot
from ganscape.studies.report.runs import (Group, Run, factor_keys, finite, group_runs, last_line, metric_direction,
                                          scored, short_axis)
from ganscape.studies.store import Store
from ganscape.utils.html import SCRIPT, esc, img
from ganscape.utils.io import atomic_write_text

BEST_SAMPLES = 3
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{margin-bottom:4px} .muted{color:#666} table{border-collapse:collapse;font-size:13px;margin:8px 0 16px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top} th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums} tr.best td{background:#eef8ee}
.metric{font-weight:600} .status-failed{color:#b00} .status-pending,.status-running{color:#a60}
.deltas{font-family:monospace;font-size:11px;color:#444;max-width:420px}
.samples{display:flex;gap:16px;flex-wrap:wrap} figure{margin:0} figcaption{font-size:12px;color:#444}
img{max-width:100%} pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:11px;max-height:240px}
"""
def fmt(value: float | None, std: float | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "&ndash;"
    return esc(f"{value:.4g}" + (f" \u00b1 {std:.2g}" if std is not None and math.isfinite(std) else ""))


def last_sample_png(study_dir: Path, run: Run) -> str | None:
    folder = run_dir_for(study_dir, run.id) / "samples"
    files = sorted(folder.glob("step-*.png")) if folder.is_dir() else []
    return base64.b64encode(files[-1].read_bytes()).decode("ascii") if files else None


def run_row(run: Run, pos: int, axes: list[str], metrics: list[str], metric: str | None) -> str:
    t = run.task
    ok = scored(run, metric)
    cells = [f'<td class="num">{pos if ok else "&ndash;"}</td>', f'<td class="num">{t["id"]}</td>']
    cells += [f"<td>{esc(t['factors'].get(a, ''))}</td>" for a in axes]
    cells += [f'<td class="num{" metric" if m == metric else ""}">{fmt(run.final.get(m), run.final_std.get(m))}</td>'
              for m in metrics]
    status = t["status"] + (" (diverged)" if (t["note"] or "").startswith("diverged") else "")
    cells += [f'<td class="num">{esc(run.final_step) if run.final_step is not None else "&ndash;"}</td>',
              f'<td class="status-{esc(t["status"])}" title="{esc(t["note"] or last_line(t["error"]))}">{esc(status)}</td>',
              f'<td class="num">{fmt(t["train_seconds"])}</td>',
              f'<td class="deltas">{esc(", ".join(run.deltas))}</td>']
    return f'<tr class="{"best" if pos == 1 and ok else ""}">{"".join(cells)}</tr>'


def runs_table(group: Group, index: int, axes: list[str]) -> str:
    metrics = sorted({m for r in group.runs for m in r.final}, key=lambda m: (m != group.metric, m))  # ranked-by first
    head = ["rank", "task", *[short_axis(a) for a in axes], *metrics, "step", "status", "train s", "config deltas"]
    rows = [run_row(run, pos, axes, metrics, group.metric) for pos, run in enumerate(group.runs, start=1)]
    return (f'<table class="runs-table" id="runs-{index}"><thead><tr>{"".join(f"<th>{esc(h)}</th>" for h in head)}'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def group_html(study_dir: Path, group: Group, index: int) -> str:
    axes = factor_keys(group.runs)
    way = metric_direction(group.metric)
    direction = f"{way} is better" if way else ("direction unknown" if group.metric else "")
    parts = [f'<section class="group" id="group-{index}"><h2>{esc(group.dataset)}</h2>',
             f'<p>Ranked by <b>{esc(group.metric or "(no metric yet)")}</b> at the last evaluated checkpoint '
             f'(<span class="direction">{esc(direction)}</span>). {len(group.runs)} runs.</p>',
             runs_table(group, index, axes)]
    infinite = sum(1 for r in group.runs if scored(r, group.metric) and not finite(r.final.get(group.metric)))
    if infinite:
        parts.append(f'<p class="muted">{infinite} runs scored an infinite {esc(group.metric)} (e.g. no '
                     'high-quality sample); they are ranked last among scored runs and left out of the plots.</p>')
    dist = distribution_plot(group, axes)
    curves = curves_plot(group, next((a for a in axes if a not in ("seed", "sample")), None))
    if dist:
        parts.append(f'<h3>{esc(group.metric)} per factor</h3><div class="plot distribution">{img(dist, "distribution")}</div>')
    if curves:
        parts.append(f'<h3>{esc(group.metric)} vs training step</h3><div class="plot curves">{img(curves, "curves")}</div>')
    best = [r for r in group.runs if scored(r, group.metric)][:BEST_SAMPLES]
    if best:
        figures = "".join(
            f'<figure>{img(last_sample_png(study_dir, r), f"samples of task {r.id}")}'
            f'<figcaption>#{i} task {r.id}: {esc(r.task["name"])} ({esc(group.metric)} {fmt(r.final.get(group.metric))})'
            f'</figcaption></figure>' for i, r in enumerate(best, start=1))
        parts.append(f'<h3>Best runs: samples</h3><div class="samples">{figures}</div>')
    return "".join(parts) + "</section>"


def failures_html(groups: list[Group]) -> str:
    failed = [r for g in groups for r in g.runs if r.task["status"] == "failed"]
    if not failed:
        return ""
    items = "".join(f'<h4>task {r.id}: {esc(r.task["name"])}</h4><p class="error">{esc(last_line(r.task["error"]))}</p>'
                    f'<details><summary>traceback</summary><pre>{esc(r.task["error"] or "")}</pre></details>'
                    for r in failed)
    return f'<section id="failures"><h2>Failed tasks</h2>{items}</section>'


def render_html(study_dir: str | Path, metric: str | None = None) -> str:
    study_dir = Path(study_dir)
    with Store(study_dir, create=False) as store:
        groups = group_runs(store, metric)
        name, description = store.get_meta("name", ""), store.get_meta("description", "")
        counts = store.counts()
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("done", "running", "pending", "failed"))
    body = "".join(group_html(study_dir, g, i) for i, g in enumerate(groups))
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<title>ganscape study: {esc(name)}</title><style>{STYLE}</style></head><body>'
            f'<h1 id="study-title">Study {esc(name)}</h1><p class="muted">{esc(description)}</p>'
            f'<p id="study-summary">{sum(counts.values())} tasks: {esc(summary)}. '
            f'Generated {esc(time.strftime("%Y-%m-%d %H:%M:%S"))}.</p>'
            f'{body}{failures_html(groups)}<script>{SCRIPT}</script></body></html>')


def write_html(study_dir: str | Path, out: str | Path, metric: str | None = None) -> Path:
    atomic_write_text(out, render_html(study_dir, metric))
    return Path(out)
