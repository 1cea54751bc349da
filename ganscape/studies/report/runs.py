"""A study's runs as the report sees them: each task with its result curves, final values and config deltas, grouped
by dataset and ranked.

A group is ranked by one metric in its registered direction (``--metric``, else the first of the study's
``report.metrics`` the group has), except a toy-mixture group (its runs have ``modes``, ``hq_share`` and ``reverse_kl``
of one protocol) without a ``--metric`` it has: that one is ranked by the published protocol (Srivastava et al. 2017,
VEEGAN; Lin et al. 2018, PacGAN), lexicographically by modes captured (higher), then the high-quality share (higher),
then the reverse KL (lower). Ranking by reverse KL alone would put a smeared ring with 7 % high-quality samples
above a sharp one with 41 % at the same 8 modes.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from ganscape.config import config_diff, dump_yaml, lookup, schema_for, with_component_defaults
from ganscape.metrics import direction, metric_family
from ganscape.registry import ConfigError
from ganscape.studies.store import Store

TOY_ORDER = ("modes", "hq_share", "reverse_kl")  # PacGAN / VEEGAN: modes captured, then quality, then balance


@dataclass
class Run:
    """One task with its outcome: ``final`` holds the values at the last evaluated step."""

    task: dict[str, Any]
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    final: dict[str, float] = field(default_factory=dict)
    final_std: dict[str, float | None] = field(default_factory=dict)
    final_step: int | None = None
    deltas: list[str] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.task["id"]

    @property
    def dataset(self) -> str:
        return str(self.task["config"]["data"]["name"])

    @property
    def finished(self) -> bool:
        """Whether the task is done (a diverged run is: its divergence is its result). A running, pending or failed
        task's last scores are from an earlier step than its planned end."""
        return self.task["status"] == "done"

    @property
    def diverged(self) -> bool:
        """Whether training stopped on a divergence (the task's note): its last scores are from before it."""
        return (self.task.get("note") or "").startswith("diverged")

    def outcome(self, metric: str) -> float | None:
        """What the ranking and the analysis take as the run's ``metric``: its value at the last evaluated step,
        except that a run that diverged, or scored NaN (a diverged generator's samples), takes the metric's worst
        value, +inf (-inf for a higher-is-better one), in every metric: its divergence is its result, and a budget
        draw that lands on it finds nothing. Its last scores are from a checkpoint before the divergence; pooled as
        they are, a configuration that diverged in two seeds of three was ranked by its third alone. A NaN in one
        metric marks the samples broken for all (a run of 8 modes, 90% HQ and a NaN reverse KL ranked first). None
        when the run has no such score and did not break."""
        if self.broke():
            return -math.inf if metric_direction(metric) == "higher" else math.inf
        return self.final.get(metric)

    def broke(self, metric: str | None = None) -> bool:
        """Whether the run counts as ``metric``'s worst value (``outcome``): it diverged, or scored NaN in
        ``metric`` (None: in any metric)."""
        values = self.final.values() if metric is None else [self.final.get(metric)]
        return self.diverged or any(value is not None and math.isnan(value) for value in values)


@dataclass
class Group:
    """The runs on one dataset, best first. ``order`` is the ranking: metrics compared in turn, each in its own
    direction (one metric, or the toy protocol's three); ``metric`` is its first, the one the plots show. ``grid``
    lists the study's grid axes (``meta.axes``), in the order written."""

    dataset: str
    metric: str | None
    runs: list[Run]
    order: list[str] = field(default_factory=list)
    grid: list[str] = field(default_factory=list)

    @property
    def metrics(self) -> list[str]:
        """Every metric the runs have: the ranking's first, in its order, then the rest by name."""
        return self.order + [m for m in metric_names(self.runs) if m not in self.order]

    @property
    def finished(self) -> list[Run]:
        """The runs whose tasks are done, best first: the ones the analysis pools (``Run.finished``)."""
        return [run for run in self.runs if run.finished]


def metric_direction(metric: str | None) -> str | None:
    """``higher``/``lower`` from the metric registry; None for no metric or an unknown name."""
    try:
        return direction(metric) if metric is not None else None
    except ConfigError:
        return None


def config_deltas(base: dict[str, Any], config: dict[str, Any], raw: dict[str, Any]) -> list[str]:
    """``key=value`` for every difference from the study's base config; a component swapped
    for another (``data: ring8 -> digits``) is one delta showing the new section."""
    out, swapped = [], set()
    for section in schema_for(config.get("kind", "gan")).sections:
        new, old = config.get(section) or {}, base.get(section) or {}
        if new.get("name") != old.get("name"):
            swapped.add(section)
            shown = raw.get(section) or new  # as written: options left at their defaults are not listed
            out.append(f"{section}.name={shown['name']}" if len(shown) == 1 else
                       f"{section}={dump_yaml(shown, flow=True).strip()}")
    for key in config_diff(base, config):
        if key.split(".")[0] not in swapped:
            value = lookup(config, key)
            out.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return out


def load_runs(store: Store) -> list[Run]:
    base = with_component_defaults(store.get_meta("base_config", {}))
    runs = {t["id"]: Run(t) for t in store.tasks()}
    stds: dict[tuple[int, int, str], float | None] = {}
    for task_id, record in store.results():
        runs[task_id].curves.setdefault(record.metric, []).append((record.step, record.value))
        stds[(task_id, record.step, record.metric)] = record.std
    for run in runs.values():
        if run.curves:
            run.final_step = max(step for pts in run.curves.values() for step, _ in pts)
            run.final = {name: dict(pts)[run.final_step] for name, pts in run.curves.items()
                         if run.final_step in dict(pts)}
            run.final_std = {name: stds.get((run.id, run.final_step, name)) for name in run.final}
        run.deltas = config_deltas(base, with_component_defaults(run.task["config"]), run.task["config"])
    return list(runs.values())


def metric_names(runs: list[Run]) -> list[str]:
    return sorted({name for run in runs for name in run.final})


def match_metric(names: list[str], wanted: str) -> str | None:
    """``wanted`` itself, else the first name of its family (``fid`` picks ``fid2k_lenet-digits``); None if absent."""
    return wanted if wanted in names else next((n for n in names if metric_family(n) == wanted), None)


def pick_metric(runs: list[Run], preferred: list[str], requested: str | None) -> str | None:
    """The metric to rank by: ``requested``, else the first of ``preferred`` the runs have, else their first metric
    by name; only metrics with a registered direction (None if the runs have none)."""
    names = rankable(metric_names(runs))
    for wanted in ([requested] if requested else []) + list(preferred):
        found = match_metric(names, wanted)
        if found:
            return found
    return names[0] if names else None


def rankable(names: list[str]) -> list[str]:
    """The ``names`` whose direction the metric registry knows: a metric registered by a user's own module that this
    process has not imported cannot rank (``unrankable``)."""
    return [name for name in names if metric_direction(name) is not None]


def unrankable(runs: list[Run]) -> list[str]:
    """The runs' metrics of no registered metric: the report shows them, and ranks by none of them."""
    return [name for name in metric_names(runs) if metric_direction(name) is None]


def toy_order(names: list[str]) -> list[str] | None:
    """The toy-mixture protocol's ranking, ``[modes*, hq_share*, reverse_kl*]`` of one evaluation protocol (same
    suffix, e.g. ``2500_toy``), when all three are in ``names``; else None."""
    for name in names:
        if metric_family(name) == TOY_ORDER[0]:
            trio = [family + name[len(TOY_ORDER[0]):] for family in TOY_ORDER]
            if all(t in names for t in trio):
                return trio
    return None


def ranking(runs: list[Run], preferred: list[str], requested: str | None) -> list[str]:
    """The metrics a group is ranked by: ``requested`` when the runs have it, else the toy protocol when the runs
    have its three metrics, else the first of ``preferred`` present (else the first metric by name); [] for none."""
    names = rankable(metric_names(runs))
    explicit = match_metric(names, requested) if requested else None
    if explicit is None:
        toy = toy_order(names)
        if toy:
            return toy
    metric = explicit or pick_metric(runs, preferred, None)
    return [metric] if metric else []


def order_key(value: Callable[[str], float | None], order: list[str]) -> tuple:
    """Sort key, best first: each metric of ``order`` in turn, in its own direction (unknown: lower is better). A
    missing or NaN value sorts after every present one (inf is a valid worst score)."""
    key = []
    for metric in order:
        v = value(metric)
        if v is None or math.isnan(v):
            key.append((1, 0.0))
        else:
            key.append((0, -v if metric_direction(metric) == "higher" else v))
    return tuple(key)


def rank(runs: list[Run], order: list[str]) -> list[Run]:
    """Finished runs best first by ``order`` (see ``order_key``), ties and unscored runs by id; then the unfinished
    ones (running, pending, failed: their scores are from an earlier step) in the same order."""
    return sorted(runs, key=lambda r: (not r.finished, order_key(r.outcome, order), r.id))


def group_runs(store: Store, requested: str | None) -> list[Group]:
    """The study's runs grouped by dataset and ranked; ``requested`` (``--metric``) that no run has is refused (the
    report was ranked by another metric, silently)."""
    runs = load_runs(store)
    names = metric_names(runs)
    unknown = unrankable(runs)
    if unknown:
        logging.getLogger(__name__).warning(
            "warning: no registered metric has the output of %s, so the report ranks by none of them (a metric of "
            "your own module? register it in the process that writes the report)", ", ".join(unknown))
    if requested and names and match_metric(names, requested) is None:
        raise ConfigError(f"--metric: no run of this study has {requested!r}; its metrics: {', '.join(names)}")
    if requested and match_metric(rankable(names), requested) is None and match_metric(names, requested):
        raise ConfigError(f"--metric: {requested!r} is the output of no registered metric here, so its direction is "
                          "unknown; register its metric in this process (GANSCAPE_PLUGINS) or rank by another")
    preferred = list(store.get_meta("report", {}).get("metrics", []))
    grid = list(store.get_meta("axes", []))
    groups = []
    for dataset in dict.fromkeys(run.dataset for run in runs):
        members = [r for r in runs if r.dataset == dataset]
        order = ranking(members, preferred, requested)
        groups.append(Group(dataset, order[0] if order else None, rank(members, order), order, grid))
    return groups


def factor_keys(runs: list[Run]) -> list[str]:
    keys = list(dict.fromkeys(k for run in runs for k in run.task["factors"]))
    return [k for k in keys if len({run.task["factors"].get(k) for run in runs}) > 1 or k == "seed"]


def short_axis(key: str) -> str:
    parts = key.split(".")
    return parts[0] if parts[-1] == "name" and len(parts) > 1 else parts[-1]


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def last_line(error: str | None) -> str:
    """The last line of a traceback (the exception), or ''."""
    lines = (error or "").strip().splitlines()
    return lines[-1] if lines else ""


def scored(run: Run, metric: str | None) -> bool:
    """A run has a score when it has an ``outcome`` of its metric (inf is a valid worst score, a diverged run's)."""
    return metric is not None and run.outcome(metric) is not None


def ranked(run: Run, metric: str | None) -> bool:
    """A run gets a place in the ranking when it is finished and scored: an unfinished run's last score, from an
    earlier step, is shown but not ranked against final ones."""
    return run.finished and scored(run, metric)
