"""The study report: one self-contained HTML page (plots and samples inlined as base64 PNG,
every text escaped) or a CSV table.

Runs are grouped by dataset (``data.name``); each group is ranked by its metric (the
``--metric`` given, else the first of the study's ``report.metrics`` that the group has).
A run's score is its value at the last evaluated checkpoint. The page shows, per group:
the ranked table with config deltas, the metric's distribution per factor (box + strip
plots, as in Lucic et al. 2018), metric-vs-step curves and the best runs' samples.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganscape.config import config_diff
from ganscape.studies.evaluate import higher_is_better, metric_family
from ganscape.studies.execute import run_dir_for
from ganscape.studies.spec import get_dotted
from ganscape.studies.store import Store
from ganscape.utils.io import atomic_write_text

BEST_SAMPLES = 3


@dataclass
class Run:
    """One task with its outcome: ``final`` holds the metrics at the last evaluated step."""

    task: dict[str, Any]
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    final: dict[str, float] = field(default_factory=dict)
    final_step: int | None = None
    deltas: list[str] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.task["id"]

    @property
    def dataset(self) -> str:
        return str(self.task["config"]["data"]["name"])


@dataclass
class Group:
    dataset: str
    metric: str | None
    runs: list[Run]


def with_component_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` whose component sections also list their default options, so
    deltas show only real differences (``norm: none`` equals an absent ``norm``)."""
    import copy
    import inspect

    from ganscape.config import registries

    out = copy.deepcopy(config)
    for section, registry in registries().items():
        part = out.get(section)
        if isinstance(part, dict) and part.get("name") in registry:
            options = registry.get(part["name"]).options(registry.context_args)
            for opt, param in options.items():
                if param.default is not inspect.Parameter.empty:
                    part.setdefault(opt, param.default)
    return out


def load_runs(store: Store) -> list[Run]:
    base = with_component_defaults(store.get_meta("base_config", {}))
    runs = {t["id"]: Run(t) for t in store.tasks()}
    for row in store.metrics():
        run = runs[row["task_id"]]
        run.curves.setdefault(row["name"], []).append((row["step"], row["value"]))
    for run in runs.values():
        if run.curves:
            run.final_step = max(step for pts in run.curves.values() for step, _ in pts)
            run.final = {name: dict(pts)[run.final_step] for name, pts in run.curves.items()
                         if run.final_step in dict(pts)}
        run.deltas = config_deltas(base, with_component_defaults(run.task["config"]), run.task["config"])
    return list(runs.values())


def config_deltas(base: dict[str, Any], config: dict[str, Any], raw: dict[str, Any]) -> list[str]:
    """``key=value`` for every difference from the study's base config; a component swapped
    for another (``data: ring8 -> digits``) is one delta showing the new section."""
    import yaml

    from ganscape.config import COMPONENT_SECTIONS

    out, swapped = [], set()
    for section in COMPONENT_SECTIONS:
        new, old = config.get(section) or {}, base.get(section) or {}
        if new.get("name") != old.get("name"):
            swapped.add(section)
            shown = raw.get(section) or new  # as written: options left at their defaults are not listed
            out.append(f"{section}.name={shown['name']}" if len(shown) == 1 else
                       f"{section}={yaml.safe_dump(shown, default_flow_style=True, sort_keys=False).strip()}")
    for key in config_diff(base, config):
        if key.split(".")[0] not in swapped:
            out.append(f"{key}={_short(_value(config, key))}")
    return out


def _value(config: dict[str, Any], key: str) -> Any:
    try:
        return get_dotted(config, key)
    except Exception:
        return None


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def pick_metric(runs: list[Run], preferred: list[str], requested: str | None) -> str | None:
    names = sorted({name for run in runs for name in run.final})
    if requested in names:
        return requested
    for wanted in ([requested] if requested else []) + list(preferred):
        for name in names:  # a family name (``fid``) picks its protocol (``fid2k_lenet-digits``)
            if metric_family(name) == wanted and not name.endswith("_std"):
                return name
    return names[0] if names else None


def rank(runs: list[Run], metric: str | None) -> list[Run]:
    """Scored runs best first, then runs without a score (failed, pending) by id."""
    def key(run: Run):
        value = run.final.get(metric, math.nan) if metric else math.nan
        if math.isnan(value):
            return (1, 0.0, run.id)
        return (0, -value if higher_is_better(metric) else value, run.id)
    return sorted(runs, key=key)


def group_runs(store: Store, requested: str | None) -> list[Group]:
    runs = load_runs(store)
    preferred = list(store.get_meta("report", {}).get("metrics", []))
    datasets = list(dict.fromkeys(run.dataset for run in runs))
    groups = []
    for dataset in datasets:
        members = [r for r in runs if r.dataset == dataset]
        metric = pick_metric(members, preferred, requested)
        groups.append(Group(dataset, metric, rank(members, metric)))
    return groups


def factor_keys(runs: list[Run]) -> list[str]:
    keys = list(dict.fromkeys(k for run in runs for k in run.task["factors"]))
    return [k for k in keys if len({run.task["factors"].get(k) for run in runs}) > 1 or k == "seed"]


def short_axis(key: str) -> str:
    parts = key.split(".")
    return parts[0] if parts[-1] == "name" and len(parts) > 1 else parts[-1]


# ----- CSV ------------------------------------------------------------------------------------
def write_csv(study_dir: str | Path, out: str | Path, metric: str | None = None) -> Path:
    """One row per task: factors, status, final metrics, timings, deltas, error."""
    with Store(study_dir, create=False) as store:
        groups = group_runs(store, metric)
    runs = [run for g in groups for run in g.runs]
    factors = list(dict.fromkeys(k for run in runs for k in run.task["factors"]))
    metrics = sorted({m for run in runs for m in run.final})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["task", "name", "data.name", "status", *factors, "final_step", *metrics,
                     "train_seconds", "eval_seconds", "note", "error", "config_deltas"])
    for run in runs:
        t = run.task
        error = (t["error"] or "").strip().splitlines()
        writer.writerow([t["id"], t["name"], run.dataset, t["status"], *[t["factors"].get(f, "") for f in factors],
                         run.final_step if run.final_step is not None else "",
                         *[_csv_num(run.final.get(m)) for m in metrics],
                         _csv_num(t["train_seconds"]), _csv_num(t["eval_seconds"]), t["note"] or "",
                         error[-1] if error else "", "; ".join(run.deltas)])
    atomic_write_text(out, buf.getvalue())
    return Path(out)


def _csv_num(value: float | None) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(float(value))


# ----- plots ----------------------------------------------------------------------------------
def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def distribution_plot(group: Group, axes: list[str]) -> str | None:
    """Box + jittered strip plot of the group's metric for each value of each factor."""
    scored = [r for r in group.runs if group.metric and _finite(r.final.get(group.metric))]
    axes = [a for a in axes if a not in ("seed", "sample")]
    if not scored or not axes:
        return None
    plt = _pyplot()
    fig, subplots = plt.subplots(1, len(axes), figsize=(3.6 * len(axes), 3.4), squeeze=False)
    for ax, key in zip(subplots[0], axes):
        labels = list(dict.fromkeys(r.task["factors"].get(key, "") for r in group.runs))
        data = [[r.final[group.metric] for r in scored if r.task["factors"].get(key, "") == lab] for lab in labels]
        ax.boxplot([d if d else [math.nan] for d in data], widths=0.5, showfliers=False)
        for i, values in enumerate(data, start=1):
            jitter = [i + 0.12 * (((j * 7919) % 11) / 10 - 0.5) for j in range(len(values))]
            ax.scatter(jitter, values, s=14, alpha=0.7, zorder=3)
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=30, ha="right", fontsize=8)
        ax.set_title(short_axis(key), fontsize=10)
        ax.set_ylabel(group.metric if key == axes[0] else "")
        ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def curves_plot(group: Group, color_axis: str | None) -> str | None:
    """Metric vs training step, one line per run, coloured by the first factor."""
    runs = [r for r in group.runs if any(_finite(v) for _, v in r.curves.get(group.metric, []))]
    if not runs:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4))
    labels = list(dict.fromkeys(r.task["factors"].get(color_axis, "") for r in runs)) if color_axis else [""]
    cmap = plt.get_cmap("tab10")
    for run in runs:
        label = run.task["factors"].get(color_axis, "") if color_axis else ""
        pts = sorted((s, v) for s, v in run.curves[group.metric] if _finite(v))
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=cmap(labels.index(label) % 10), alpha=0.6, marker=".")
    for i, label in enumerate(labels):
        ax.plot([], [], color=cmap(i % 10), label=label or "runs")
    ax.set_xlabel("training step")
    ax.set_ylabel(group.metric)
    ax.legend(title=short_axis(color_axis) if color_axis else None, fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _scored(run: Run, metric: str | None) -> bool:
    """A run has a score when its metric exists and is not NaN (inf is a valid worst score)."""
    value = run.final.get(metric) if metric else None
    return value is not None and not math.isnan(value)


def last_sample_png(study_dir: Path, run: Run) -> str | None:
    folder = run_dir_for(study_dir, run.id) / "samples"
    files = sorted(folder.glob("step-*.png")) if folder.is_dir() else []
    return base64.b64encode(files[-1].read_bytes()).decode("ascii") if files else None


# ----- HTML -----------------------------------------------------------------------------------
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
# Marks the page once every inlined image has decoded, so tests can check it in a browser.
SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.every(function (im) { return im.complete && im.naturalWidth > 0; });
  document.body.setAttribute('data-images', ok ? 'ok' : 'broken');
  document.body.setAttribute('data-image-count', String(imgs.length));
});
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "&ndash;"
    return _e(f"{value:.4g}")


def _img(b64: str | None, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{b64}">' if b64 else ""


def group_html(study_dir: Path, group: Group, index: int) -> str:
    runs = group.runs
    axes = factor_keys(runs)
    metrics = sorted({m for r in runs for m in r.final})
    if group.metric in metrics:
        metrics.remove(group.metric)
        metrics.insert(0, group.metric)
    direction = ("higher is better" if higher_is_better(group.metric) else "lower is better") if group.metric else ""
    head = ["rank", "task", *[short_axis(a) for a in axes], *metrics, "step", "status", "train s", "config deltas"]
    rows = []
    for pos, run in enumerate(runs, start=1):
        t = run.task
        scored = _scored(run, group.metric)
        cells = [f'<td class="num">{pos if scored else "&ndash;"}</td>', f'<td class="num">{t["id"]}</td>']
        cells += [f"<td>{_e(t['factors'].get(a, ''))}</td>" for a in axes]
        cells += [f'<td class="num{" metric" if m == group.metric else ""}">{_fmt(run.final.get(m))}</td>' for m in metrics]
        status = t["status"] + (" (diverged)" if (t["note"] or "").startswith("diverged") else "")
        cells += [f'<td class="num">{_e(run.final_step) if run.final_step is not None else "&ndash;"}</td>',
                  f'<td class="status-{_e(t["status"])}" title="{_e(t["note"] or t["error"] or "")}">{_e(status)}</td>',
                  f'<td class="num">{_fmt(t["train_seconds"])}</td>',
                  f'<td class="deltas">{_e(", ".join(run.deltas))}</td>']
        rows.append(f'<tr class="{"best" if pos == 1 and scored else ""}">{"".join(cells)}</tr>')
    table = (f'<table class="runs-table" id="runs-{index}"><thead><tr>{"".join(f"<th>{_e(h)}</th>" for h in head)}'
             f'</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    dist = distribution_plot(group, axes)
    curves = curves_plot(group, next((a for a in axes if a not in ("seed", "sample")), None))
    best = [r for r in runs if _scored(r, group.metric)][:BEST_SAMPLES]
    samples = "".join(
        f'<figure>{_img(last_sample_png(study_dir, r), f"samples of task {r.id}")}'
        f'<figcaption>#{i} task {r.id}: {_e(r.task["name"])} ({_e(group.metric)} {_fmt(r.final.get(group.metric))})'
        f'</figcaption></figure>' for i, r in enumerate(best, start=1))
    parts = [f'<section class="group" id="group-{index}"><h2>{_e(group.dataset)}</h2>',
             f'<p>Ranked by <b>{_e(group.metric or "(no metric yet)")}</b> at the last evaluated checkpoint '
             f'({_e(direction)}). {len(runs)} runs.</p>', table]
    infinite = sum(1 for r in runs if _scored(r, group.metric) and not _finite(r.final.get(group.metric)))
    if infinite:
        parts.append(f'<p class="muted">{infinite} runs scored an infinite {_e(group.metric)} (e.g. no '
                     'high-quality sample); they are ranked last among scored runs and left out of the plots.</p>')
    if dist:
        parts.append(f'<h3>{_e(group.metric)} per factor</h3><div class="plot distribution">{_img(dist, "distribution")}</div>')
    if curves:
        parts.append(f'<h3>{_e(group.metric)} vs training step</h3><div class="plot curves">{_img(curves, "curves")}</div>')
    if samples:
        parts.append(f'<h3>Best runs: samples</h3><div class="samples">{samples}</div>')
    return "".join(parts) + "</section>"


def failures_html(groups: list[Group]) -> str:
    failed = [r for g in groups for r in g.runs if r.task["status"] == "failed"]
    if not failed:
        return ""
    items = "".join(f'<h4>task {r.id}: {_e(r.task["name"])}</h4><pre>{_e(r.task["error"] or "")}</pre>' for r in failed)
    return f'<section id="failures"><h2>Failed tasks</h2>{items}</section>'


def render_html(study_dir: str | Path, metric: str | None = None) -> str:
    study_dir = Path(study_dir)
    with Store(study_dir, create=False) as store:
        groups = group_runs(store, metric)
        name, description = store.get_meta("name", ""), store.get_meta("description", "")
        counts = store.counts()
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("done", "running", "pending", "failed"))
    body = "".join(group_html(study_dir, g, i) for i, g in enumerate(groups))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<title>ganscape study: {_e(name)}</title><style>{STYLE}</style></head><body>'
        f'<h1 id="study-title">Study {_e(name)}</h1><p class="muted">{_e(description)}</p>'
        f'<p id="study-summary">{sum(counts.values())} tasks: {_e(summary)}. '
        f'Generated {_e(time.strftime("%Y-%m-%d %H:%M:%S"))}.</p>'
        f'{body}{failures_html(groups)}<script>{SCRIPT}</script></body></html>')


def write_report(study_dir: str | Path, out: str | Path, metric: str | None = None) -> Path:
    """Write ``out`` as CSV when it ends in ``.csv``, else as a self-contained HTML page."""
    if str(out).lower().endswith(".csv"):
        return write_csv(study_dir, out, metric)
    atomic_write_text(out, render_html(study_dir, metric))
    return Path(out)
