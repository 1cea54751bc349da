"""The report's plots as inline PNGs (base64): a metric's distribution per factor, metric-vs-step curves and the
expected best score at a budget of k runs."""
from __future__ import annotations

import base64
import io
import math

import numpy as np

from ganscape.studies.report.runs import Group, finite, short_axis
from ganscape.utils.images import pyplot


def png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    pyplot().close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def distribution_plot(group: Group, axes: list[str]) -> str | None:
    """Box + jittered strip plot of the group's metric for each value of each factor, over its finished runs."""
    scored = [r for r in group.finished if group.metric and finite(r.outcome(group.metric))]  # not diverged ones
    axes = [a for a in axes if a not in ("seed", "sample")]
    if not scored or not axes:
        return None
    plt = pyplot()
    fig, subplots = plt.subplots(1, len(axes), figsize=(3.6 * len(axes), 3.4), squeeze=False)
    for ax, key in zip(subplots[0], axes):
        labels = list(dict.fromkeys(r.task["factors"].get(key, "") for r in group.runs))
        data = [[r.outcome(group.metric) for r in scored if r.task["factors"].get(key, "") == lab] for lab in labels]
        ax.boxplot([d if d else [math.nan] for d in data], widths=0.5, showfliers=False)
        for i, values in enumerate(data, start=1):
            jitter = [i + 0.12 * (((j * 7919) % 11) / 10 - 0.5) for j in range(len(values))]
            ax.scatter(jitter, values, s=14, alpha=0.7, zorder=3)
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=30, ha="right", fontsize=8)
        ax.set_title(short_axis(key), fontsize=10)
        ax.set_ylabel(group.metric if key == axes[0] else "")
        ax.grid(alpha=0.3, axis="y")
    return png(fig)


def curves_plot(group: Group, color_axis: str | None) -> str | None:
    """Metric vs training step, one line per run, coloured by the first factor."""
    runs = [r for r in group.runs if any(finite(v) for _, v in r.curves.get(group.metric, []))]
    if not runs:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4))
    labels = list(dict.fromkeys(r.task["factors"].get(color_axis, "") for r in runs)) if color_axis else [""]
    cmap = plt.get_cmap("tab10")
    for run in runs:
        label = run.task["factors"].get(color_axis, "") if color_axis else ""
        pts = sorted((s, v) for s, v in run.curves[group.metric] if finite(v))  # never empty: see the filter above
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=cmap(labels.index(label) % 10), alpha=0.6, marker=".")
    for i, label in enumerate(labels):
        ax.plot([], [], color=cmap(i % 10), label=label or "runs")
    ax.set(xlabel="training step", ylabel=group.metric)
    ax.legend(title=short_axis(color_axis) if color_axis else None, fontsize=8)
    ax.grid(alpha=0.3)
    return png(fig)


def budget_plot(curves: dict[str, dict[str, tuple[np.ndarray, ...]]], factor: str | None) -> str | None:
    """One panel per metric: per level, the exact expected best score of k runs (line, k = 1..n) and the 5-95 % band
    of random draws (``analysis.budget_curves``). Non-finite points (e.g. an infinite reverse KL) are left out."""
    panels = {m: levels for m, levels in curves.items() if any(np.isfinite(c[0]).any() for c in levels.values())}
    if not panels:
        return None
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator
    fig, subplots = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, (metric, levels) in zip(subplots[0], panels.items()):
        for i, (level, arrays) in enumerate(levels.items()):
            mean, low, high = (np.where(np.isfinite(a), a, np.nan) for a in arrays)
            k = np.arange(1, len(mean) + 1)
            ax.fill_between(k, low, high, color=cmap(i % 10), alpha=0.18, linewidth=0)
            ax.plot(k, mean, color=cmap(i % 10), marker=".", label=f"{level} (n={len(mean)})")
        ax.set(xlabel="budget k (runs)", ylabel=f"expected best {metric}",
               xlim=(0.7, max(len(c[0]) for c in levels.values()) + 0.3))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(title=short_axis(factor) if factor else None, fontsize=8)
        ax.grid(alpha=0.3)
    return png(fig)
