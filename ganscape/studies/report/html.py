"""The study report as one self-contained HTML page: plots and samples inlined as base64 PNG,
every text escaped, failures as their last line with the traceback behind a click."""
from __future__ import annotations

import base64
import math
import time
from collections import Counter
from pathlib import Path

from ganscape.studies.execute import run_dir_for
from ganscape.studies.report.analysis import (RESAMPLES, Configuration, Stat, budget_curves, budget_factor,
                                              configurations, factor_levels, varying_factors)
from ganscape.studies.report.plots import budget_plot, curves_plot, distribution_plot
from ganscape.studies.report.runs import (Group, Run, factor_keys, group_runs, last_line, metric_direction,
                                          ranked, scored, short_axis)
from ganscape.studies.report.stability import SeedAgreement, ranks_per_seed, seed_agreement
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
details.runs>summary{cursor:pointer;margin:8px 0}
"""
def fmt(value: float | None, std: float | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "&ndash;"
    return esc(f"{value:.4g}" + (f" \u00b1 {std:.2g}" if std is not None and math.isfinite(std) else ""))


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def last_sample_png(study_dir: Path, run: Run) -> str | None:
    """The newest preview of a run, base64, or None. Only plain PNG files are embedded: a study folder received from
    elsewhere could link ``step-*.png`` to any file (a key, a password file) for the published page to carry."""
    folder = run_dir_for(study_dir, run.id) / "samples"
    files = sorted((p for p in folder.glob("step-*.png") if p.is_file() and not p.is_symlink()
                    and p.stem[len("step-"):].isdigit()), key=lambda p: int(p.stem[len("step-"):])) \
        if folder.is_dir() and not folder.is_symlink() else []  # by step: step-100000000 after step-99999999
    data = files[-1].read_bytes() if files else b""
    return base64.b64encode(data).decode("ascii") if data.startswith(PNG_SIGNATURE) else None


def run_row(run: Run, pos: int, axes: list[str], metrics: list[str], order: list[str]) -> str:
    t = run.task
    ok = ranked(run, order[0] if order else None)
    cells = [f'<td class="num">{pos if ok else "&ndash;"}</td>', f'<td class="num">{t["id"]}</td>']
    cells += [f"<td>{esc(t['factors'].get(a, ''))}</td>" for a in axes]
    cells += [f'<td class="num{" metric" if m in order else ""}">{fmt(run.final.get(m), run.final_std.get(m))}</td>'
              for m in metrics]
    status = t["status"] + (" (diverged)" if (t["note"] or "").startswith("diverged") else "")
    cells += [f'<td class="num">{esc(run.final_step) if run.final_step is not None else "&ndash;"}</td>',
              f'<td class="status-{esc(t["status"])}" title="{esc(t["note"] or last_line(t["error"]))}">{esc(status)}</td>',
              f'<td class="num">{fmt(t["train_seconds"])}</td>',
              f'<td class="deltas">{esc(", ".join(run.deltas))}</td>']
    return f'<tr class="{"best" if pos == 1 and ok else ""}">{"".join(cells)}</tr>'


def head_row(head: list[str]) -> str:
    return f'<thead><tr>{"".join(f"<th>{esc(h)}</th>" for h in head)}</tr></thead>'


def runs_table(group: Group, index: int, axes: list[str]) -> str:
    """Every run, best first, inside a collapsed <details> (the configurations table above pools the seeds)."""
    head = ["rank", "task", *map(short_axis, axes), *group.metrics, "step", "status", "train s", "config deltas"]
    rows = [run_row(run, pos, axes, group.metrics, group.order) for pos, run in enumerate(group.runs, start=1)]
    return (f'<details class="runs"><summary>All {len(group.runs)} runs, best first</summary>'
            f'<table class="runs-table" id="runs-{index}">{head_row(head)}<tbody>{"".join(rows)}</tbody></table>'
            '</details>')


def stat_cells(stat: Stat | None, n: int | None) -> str:
    """Mean and std cells of one metric over seeds; the count is shown with the mean when it differs from ``n``."""
    if stat is None:
        return '<td class="num">&ndash;</td><td class="num"></td>'
    count = f" (n={stat.n})" if stat.n != n else ""
    std = fmt(stat.std) if stat.std is not None else ""
    return f'<td class="num">{fmt(stat.mean)}{count}</td><td class="num">{std}</td>'


def config_row(config: Configuration, pos: int, axes: list[str], group: Group, seed_ranks: dict[str, int]) -> str:
    first = config.stats.get(group.order[0]) if group.order else None
    n = first.n if first else 0
    seed_cell = ", ".join(str(seed_ranks.get(seed, "&ndash;")) for seed in config.seeds)
    cells = [f'<td class="num">{pos if first else "&ndash;"}</td>']
    cells += [f"<td>{esc(config.factor(a))}</td>" for a in axes]
    cells += [f'<td class="num">{n}</td><td class="num">{esc(", ".join(config.seeds))}</td>',
              f'<td class="num">{seed_cell}</td>']
    cells += [stat_cells(config.stats.get(m), n) for m in group.metrics]
    cells.append(f'<td class="deltas">{esc(", ".join(config.deltas))}</td>')
    return f'<tr class="{"best" if pos == 1 and first else ""}">{"".join(cells)}</tr>'


def configs_table(group: Group, configs: list[Configuration], index: int, axes: list[str]) -> str:
    """One row per configuration (its seeds pooled), best first by the mean over seeds, with its rank under each
    seed alone and the seeds' agreement."""
    head = ["rank", *[short_axis(a) for a in axes], "n", "seeds", "rank per seed"]
    head += [h for m in group.metrics for h in (f"{m} mean", "std")] + ["config deltas"]
    per_seed = ranks_per_seed(configs, group.order)
    rows = [config_row(c, pos, axes, group, ranks) for pos, (c, ranks) in enumerate(zip(configs, per_seed), start=1)]
    return (f'<h3>Configurations: mean over seeds</h3><p class="muted">Runs whose configs differ only in the seed are '
            f'one configuration: mean, sample std (n&minus;1; blank for one seed) and n of each metric. <i>Rank per '
            f'seed</i>: its rank under each of its seeds alone, among the configurations scored with that seed.</p>'
            f'{agreement_html(seed_agreement(configs, group.order))}'
            f'<table class="configs-table" id="configs-{index}">{head_row(head)}<tbody>{"".join(rows)}</tbody></table>')


def agreement_html(agreement: SeedAgreement | None) -> str:
    """How much the seeds agree on the order, and what that means for the order of the means in the table."""
    if agreement is None:
        return ""
    n, plural = agreement.seeds_per_config, "s" if agreement.pairs > 1 else ""
    means = agreement.of_means if n > 1 else None
    steadier = (f" The order of {n}-seed means is steadier: a rough estimate (Spearman&ndash;Brown, treating seeds "
                f"as independent, equally noisy repeats) puts its agreement with that of {n} other seeds at "
                f"{means:.2f}." if means is not None else "")
    return (f'<p class="agreement">Seed agreement: ranked under one seed at a time, the configurations\' orders '
            f'correlate at Spearman &rho; = {agreement.rho:.2f} on average over {agreement.pairs} pair{plural} of '
            f'seeds (1: every seed orders them alike; 0: unrelated).{steadier} Configurations whose ranks per seed '
            f'overlap are not told apart by these seeds; with few seeds, others may swap too.</p>')


def best_cell(config: Configuration, group: Group) -> str:
    scores = ", ".join(f"{esc(m)} {fmt(config.mean(m))}" for m in group.order) if len(group.order) > 1 else ""
    deltas = esc(", ".join(config.deltas))
    return f'<td class="deltas">{esc(config.label)}{": " + scores if scores else ""}<br>{deltas}</td>'


def factor_table(group: Group, configs: list[Configuration], index: int) -> str:
    """Per factor and level: best, median and worst configuration mean and the best configuration."""
    rows = []
    for factor in varying_factors(group):
        for i, level in enumerate(factor_levels(configs, factor, group.metric)):
            rows.append(f'<tr class="{"best" if i == 0 else ""}"><td>{esc(short_axis(factor))}</td>'
                        f'<td>{esc(level.label)}</td><td class="num">{len(level.configs)}</td>'
                        f'<td class="num metric">{fmt(level.best)}</td><td class="num">{fmt(level.median)}</td>'
                        f'<td class="num">{fmt(level.worst)}</td>{best_cell(level.configs[0], group)}</tr>')
    if not rows:
        return ""
    head = ["factor", "level", "configurations", "best", "median", "worst", "best configuration"]
    return (f'<h3>Per factor: which level wins</h3><p class="muted">Per level of each factor, the {esc(group.metric)} '
            f'mean over seeds of its configurations: best, median and worst (levels in the order of their best '
            f'configuration; the first row of a factor wins).</p>'
            f'<table class="factor-table" id="factors-{index}">{head_row(head)}<tbody>{"".join(rows)}</tbody></table>')


def budget_html(group: Group, factor: str | None) -> str:
    plot = budget_plot(budget_curves(group, factor), factor)
    if plot is None:
        return ""
    per = f"per {esc(short_axis(factor))}" if factor else "over all runs"
    return (f'<h3>Expected best score at a budget of k runs, {per}</h3><p class="muted">As in Lucic et al. 2018, '
            '"Are GANs Created Equal?": the line is the exact expectation of the best score among k runs drawn without '
            f'replacement from a level\'s n runs (order statistics); the band holds 5&ndash;95 % of the best over '
            f'{RESAMPLES} seeded random draws of k runs. Each ranking metric on its own.</p>'
            f'<div class="plot budget">{img(plot, "budget")}</div>')


def ranking_text(group: Group) -> str:
    """``Ranked by X (lower is better)``, or the toy protocol's lexicographic order."""
    if len(group.order) > 1:
        steps = ", then ".join(f"<b>{esc(m)}</b> ({esc(metric_direction(m) or 'direction unknown')})"
                               for m in group.order)
        return (f'Ranked lexicographically by the toy-mixture protocol (VEEGAN, PacGAN): {steps}, at the last '
                'evaluated checkpoint (<code>--metric</code> ranks by one metric instead).')
    way = metric_direction(group.metric)
    direction = f"{way} is better" if way else ("direction unknown" if group.metric else "")
    return (f'Ranked by <b>{esc(group.metric or "(no metric yet)")}</b> at the last evaluated checkpoint '
            f'(<span class="direction">{esc(direction)}</span>).')


def infinite_notes(group: Group) -> list[str]:
    """One note per ranking metric and sign that some runs scored infinite, saying where it ranks them: +inf is the
    worst reverse KL or FID but the best of a higher-is-better score."""
    notes = []
    for metric in group.order or [group.metric]:
        values = [r.final.get(metric) for r in group.runs if scored(r, metric) and not r.diverged]
        for sign in (math.inf, -math.inf):
            count = values.count(sign)
            if not count:
                continue
            best = (metric_direction(metric) == "higher") == (sign > 0)
            notes.append(f"{count} of {len(group.runs)} runs scored {metric} = {sign} (e.g. reverse KL with no "
                         f"high-quality sample); {metric} ranks them {'first' if best else 'last'} among scored "
                         "runs, and the plots leave the value out.")
    return notes


def diverged_notes(group: Group) -> list[str]:
    """How the ranking and the analysis count the runs that diverged or scored NaN (``Run.outcome``)."""
    failed = [r for r in group.finished if r.broke()]
    if not failed:
        return []
    return [f"{len(failed)} of {len(group.runs)} runs diverged or scored NaN: each counts as the worst value of every "
            "metric (+inf, or -inf where higher is better) in the ranking, the configurations' means, the factor "
            "table and the budget plot (a draw that found nothing); the runs table shows their last scores."]


def unfinished_notes(group: Group) -> list[str]:
    """What the analysis leaves out: runs not done yet or failed, whose last scores are from an earlier step."""
    left = Counter(r.task["status"] for r in group.runs if not r.finished)
    if not left:
        return []
    counts = ", ".join(f"{n} {status}" for status, n in sorted(left.items()))
    return [f"{sum(left.values())} of {len(group.runs)} runs are not done ({counts}): their last scores are from an "
            "earlier step than the planned end, so they are listed in the runs table (with their step) but left out "
            "of the configurations, the factor table, the plots per factor and the budget plot."]


def group_html(study_dir: Path, group: Group, index: int, factor: str | None = None) -> str:
    axes = factor_keys(group.runs)
    configs = configurations(group.runs, group.order)
    parts = [f'<section class="group" id="group-{index}"><h2>{esc(group.dataset)}</h2>',
             f'<p class="ranking">{ranking_text(group)} {len(group.runs)} runs, {len(configs)} configurations.</p>',
             configs_table(group, configs, index, [a for a in axes if a != "seed"]),
             runs_table(group, index, axes)]
    if group.metric:
        parts += [factor_table(group, configs, index), budget_html(group, budget_factor(group, factor))]
    notes = [*unfinished_notes(group), *diverged_notes(group), *infinite_notes(group)]
    parts += [f'<p class="muted">{esc(note)}</p>' for note in notes]
    dist = distribution_plot(group, axes)
    curves = curves_plot(group, next((a for a in axes if a not in ("seed", "sample")), None))
    if dist:
        parts.append(f'<h3>{esc(group.metric)} per factor</h3><div class="plot distribution">{img(dist, "distribution")}</div>')
    if curves:
        parts.append(f'<h3>{esc(group.metric)} vs training step</h3><div class="plot curves">{img(curves, "curves")}</div>')
    best = [r for r in group.finished if scored(r, group.metric) and not r.broke()][:BEST_SAMPLES]
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


def render_html(study_dir: str | Path, metric: str | None = None, factor: str | None = None) -> str:
    """The page; ``metric`` ranks every group that has it, ``factor`` picks the budget plot's factor."""
    study_dir = Path(study_dir)
    with Store(study_dir, create=False, read_only=True) as store:
        groups = group_runs(store, metric)
        name, description = store.get_meta("name", ""), store.get_meta("description", "")
        counts = store.counts()
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("done", "running", "pending", "failed"))
    body = "".join(group_html(study_dir, g, i, factor) for i, g in enumerate(groups))
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<title>ganscape study: {esc(name)}</title><style>{STYLE}</style></head><body>'
            f'<h1 id="study-title">Study {esc(name)}</h1><p class="muted">{esc(description)}</p>'
            f'<p id="study-summary">{sum(counts.values())} tasks: {esc(summary)}. '
            f'Generated {esc(time.strftime("%Y-%m-%d %H:%M:%S"))}.</p>'
            f'{body}{failures_html(groups)}<script>{SCRIPT}</script></body></html>')


def write_html(study_dir: str | Path, out: str | Path, metric: str | None = None, factor: str | None = None) -> Path:
    atomic_write_text(out, render_html(study_dir, metric, factor))
    return Path(out)
