"""A study's runs as the report sees them: each task with its result curves, final values and config deltas."""
from __future__ import annotations

import copy
import inspect
import math
from dataclasses import dataclass, field
from typing import Any

from ganscape.config import config_diff, dump_yaml, lookup, schema_for
from ganscape.metrics import direction, metric_family
from ganscape.registry import ConfigError
from ganscape.studies.store import Store


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


@dataclass
class Group:
    dataset: str
    metric: str | None
    runs: list[Run]


def metric_direction(metric: str | None) -> str | None:
    """``higher``/``lower`` from the metric registry; None for no metric or an unknown name."""
    try:
        return direction(metric) if metric is not None else None
    except ConfigError:
        return None


def with_component_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` whose component sections also list their default options, so
    deltas show only real differences (``norm: none`` equals an absent ``norm``)."""
    out = copy.deepcopy(config)
    for section, registry in schema_for(config.get("kind", "gan")).registries().items():
        part = out.get(section)
        if isinstance(part, dict) and part.get("name") in registry:
            for opt, param in registry.get(part["name"]).options(registry.context_args).items():
                if param.default is not inspect.Parameter.empty:
                    part.setdefault(opt, param.default)
    return out


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


def pick_metric(runs: list[Run], preferred: list[str], requested: str | None) -> str | None:
    names = sorted({name for run in runs for name in run.final})
    if requested in names:
        return requested
    for wanted in ([requested] if requested else []) + list(preferred):
        for name in names:  # a family name (``fid``) picks its protocol (``fid2k_lenet-digits``)
            if metric_family(name) == wanted:
                return name
    return names[0] if names else None


def rank(runs: list[Run], metric: str | None) -> list[Run]:
    """Scored runs best first (in the metric's own direction), then unscored runs by id."""
    sign = -1 if metric_direction(metric) == "higher" else 1
    return sorted(runs, key=lambda r: (0, sign * r.final[metric], r.id) if scored(r, metric) else (1, 0.0, r.id))


def group_runs(store: Store, requested: str | None) -> list[Group]:
    runs = load_runs(store)
    preferred = list(store.get_meta("report", {}).get("metrics", []))
    groups = []
    for dataset in dict.fromkeys(run.dataset for run in runs):
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


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def last_line(error: str | None) -> str:
    """The last line of a traceback (the exception), or ''."""
    lines = (error or "").strip().splitlines()
    return lines[-1] if lines else ""


def scored(run: Run, metric: str | None) -> bool:
    """A run has a score when its metric exists and is not NaN (inf is a valid worst score)."""
    value = run.final.get(metric) if metric else None
    return value is not None and not math.isnan(value)
