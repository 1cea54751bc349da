"""Expand a study spec into tasks: one fully resolved, validated run config per task.

The expansion is deterministic: grid axes in the order written, then ``random.samples`` draws per grid point
from one ``numpy`` generator seeded with ``random.seed``, then ``seeds``. Task ids are the positions in that order.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganscape.config import config_hash, dump_yaml, get_dotted, load_config, merge, set_dotted
from ganscape.config.schema import with_component_defaults
from ganscape.registry import ConfigError
from ganscape.studies.spec import StudySpec, value_label


@dataclass
class Task:
    """One run of a study. ``factors`` maps each axis (and ``seed``) to its label."""

    id: int
    name: str
    factors: dict[str, str]
    config: dict[str, Any]

    @property
    def run_dir_name(self) -> str:
        return f"task-{self.id:04d}"


def sample_space(rng: np.random.Generator, space: dict[str, Any]) -> dict[str, Any]:
    """One draw of every key of a random search space; floats keep 4 significant digits so configs stay readable."""
    out = {}
    for key, dist in space.items():
        kind, arg = next(iter(dist.items()))
        if kind == "choice":
            out[key] = copy.deepcopy(arg[int(rng.integers(len(arg)))])
        elif kind == "uniform":
            out[key] = float(rng.uniform(arg[0], arg[1]))
        elif kind == "loguniform":
            out[key] = float(math.exp(rng.uniform(math.log(arg[0]), math.log(arg[1]))))
        else:  # int: inclusive bounds
            out[key] = int(rng.integers(int(arg[0]), int(arg[1]) + 1))
    return {key: float(f"{v:.4g}") if isinstance(v, float) else v for key, v in out.items()}


DRAW_TRIES = 100  # draws of the space tried per wanted draw before a space is called too small


def space_size(space: dict[str, Any]) -> float:
    """How many distinct draws a random search space holds (inf with a uniform or loguniform key)."""
    size = 1.0
    for dist in space.values():
        kind, arg = next(iter(dist.items()))
        if kind == "choice":
            size *= len({json.dumps(v, sort_keys=True, default=str) for v in arg})
        elif kind == "int":
            size *= int(arg[1]) - int(arg[0]) + 1
        else:
            return math.inf
    return size


def distinct_draws(rng: np.random.Generator, random: dict[str, Any]) -> list[dict[str, Any]]:
    """``random.samples`` draws of the space, each different from the ones before (a repeat would train one
    configuration twice and count it twice in the budget curve): a repeated draw is drawn again."""
    size = space_size(random["space"])
    if random["samples"] > size:
        raise ConfigError(f"random.samples: {random['samples']} different draws wanted, but the space holds only "
                          f"{size:.0f} (its choice and int keys); use at most {size:.0f}, or a grid")
    draws, seen = [], set()
    for _ in range(DRAW_TRIES * random["samples"]):  # a narrow float range holds few 4-digit values
        draw = sample_space(rng, random["space"])
        key = json.dumps(draw, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            draws.append(draw)
            if len(draws) == random["samples"]:
                return draws
    raise ConfigError(f"random.samples: {random['samples']} different draws wanted, but {DRAW_TRIES} tries per draw "
                      f"gave only {len(draws)} (floats keep 4 significant digits: widen a narrow range)")


def as_trained(config: Any) -> Any:
    """``config`` as the run it trains sees it: each component's default options written out (a level restating a
    default, ``penalty: {weight: 10.0}``, is the same run) and whole-number floats as integers (``10`` and ``10.0``)."""
    def whole(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: whole(v) for k, v in value.items()}
        if isinstance(value, list):
            return [whole(v) for v in value]
        return int(value) if isinstance(value, float) and value.is_integer() else value
    return whole(with_component_defaults(config))


def check_distinct(tasks: list[Task]) -> None:
    """Two tasks with one config (two grid levels that resolve alike, e.g. a level restating the base's value)
    would train the same run twice and pool it into one configuration: refused, naming both."""
    first: dict[str, Task] = {}
    for task in tasks:
        earlier = first.setdefault(config_hash(as_trained(task.config)), task)
        if earlier is not task:
            raise ConfigError(f"task {task.id} ({task.name}) has the same config as task {earlier.id} "
                              f"({earlier.name}): it would train the same run twice; drop one of the levels (or "
                              "random draws) that resolve alike")


def plan_tasks(spec: StudySpec) -> list[Task]:
    """Every task of the study, validated; a bad combination raises ConfigError naming it."""
    rng = np.random.default_rng(spec.random["seed"]) if spec.random else None
    ordered = sorted(spec.axes, key=lambda a: not a.named)  # named axes may replace whole sections: they go first
    tasks: list[Task] = []
    for point in itertools.product(*[list(axis.values.items()) for axis in spec.axes]):
        chosen = dict(zip([a.key for a in spec.axes], point))
        draws = distinct_draws(rng, spec.random) if rng else [{}]
        for j, draw in enumerate(draws):
            for seed in spec.seeds:
                config = copy.deepcopy(spec.base)
                for axis in ordered:
                    label, value = chosen[axis.key]
                    config = merge(config, value) if axis.named else set_dotted(config, axis.key, value)
                for key, value in draw.items():
                    config = set_dotted(config, key, value)
                for target, source in spec.tie.items():
                    config = tied(config, target, source)
                config["seed"] = seed
                factors = {axis.key: chosen[axis.key][0] for axis in spec.axes}
                factors.update({key: value_label(v) for key, v in draw.items()})
                if rng is not None:
                    factors["sample"] = str(j)
                factors["seed"] = str(seed)
                task_id, name = len(tasks), "/".join(factors.values())
                try:
                    tasks.append(Task(task_id, name, factors, load_config(config)))
                except ConfigError as err:
                    raise ConfigError(f"task {task_id} ({name}): {err}") from None
    if not tasks:
        raise ConfigError("grid: the study has no tasks")
    check_distinct(tasks)
    return tasks


def check_inputs(spec: StudySpec, tasks: list[Task]) -> None:
    """Before anything is written or trained: every task's data can be opened (a prepared dataset is there) and the
    eval protocol's Inception weights exist with the expected hash (``ganscape.metrics.protocol``)."""
    from ganscape.data import build_dataset, data_meta
    from ganscape.metrics.protocol import check_inception_weights, check_ready

    if spec.eval["inception_weights"]:
        check_inception_weights(spec.eval["inception_weights"], spec.eval["inception_sha256"])
    kinds = set()
    for section in {json.dumps(t.config["data"], sort_keys=True): t.config["data"] for t in tasks}.values():
        meta = data_meta(build_dataset(section))
        kinds.add((tuple(meta["shape"]), meta["kind"]))
    for shape, kind in sorted(kinds):
        check_ready(spec.eval, shape, kind=kind)


def tied(config: dict[str, Any], target: str, source: str) -> dict[str, Any]:
    """``config`` with ``source``'s value copied to ``target`` (a study's ``tie``); errors name the tie."""
    try:
        return set_dotted(config, target, get_dotted(config, source))
    except ConfigError as err:
        raise ConfigError(f"tie.{target}: {err}") from None


def write_plan(spec: StudySpec, out_dir: str | Path) -> tuple[list[Task], list[str]]:
    """Write ``study.yaml``, ``tasks/task-NNNN.yaml`` and the database in ``out_dir``; returns the tasks and what was
    written (``["plan"]``). Planning the same study into the same folder again changes nothing (``[]``), or only its
    report settings, description or name (``["report"]``, ...: ``update_settings``); a different plan there is an
    error."""
    from ganscape.studies.store import DB_NAME, Store
    from ganscape.utils.io import atomic_write_text, folder_lock

    tasks, out = plan_tasks(spec), Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {out} exists and is not a folder; name a new folder")
    if out.is_dir() and any(p.name != ".lock" for p in out.iterdir()) and not (out / DB_NAME).exists():
        raise ConfigError(f"--out: {out} is a folder that is not empty and holds no study; name a new folder")
    check_inputs(spec, tasks)
    blob = json.dumps([[t.id, t.name, t.factors, config_hash(t.config)] for t in tasks], sort_keys=True)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"--out: cannot create {out} ({err.strerror or err})") from None
    # one planner at a time: two concurrent plans of different studies both "succeeded" into one mixed folder
    with folder_lock(out, wait=True), Store(out) as store:
        existing = store.get_meta("plan_hash")
        if existing is not None and existing != digest:
            raise ConfigError(f"--out: {out} already holds a different study plan ({store.get_meta('name')}); "
                              "use a new folder")
        if existing == digest:
            return tasks, update_settings(store, spec, out)
        atomic_write_text(out / "study.yaml", dump_yaml(spec.source))
        for task in tasks:
            header = f"# task {task.id}: {task.name}\n"
            atomic_write_text(out / "tasks" / f"{task.run_dir_name}.yaml", header + dump_yaml(task.config))
        store.create(spec, tasks, digest)
    return tasks, ["plan"]


def changed_settings(store, spec: StudySpec, keys: tuple[str, ...]) -> list[str]:
    """Which of the study facts ``keys`` (eval, resources, report, description, name) differ from the folder's.
    Where the Inception weights lie is no part of the protocol (their hash is): eval is compared without it, and its
    metrics in one spelling (``modes`` is ``{name: modes}``, ``canonical_metric``)."""
    from ganscape.metrics.defaults import canonical_metric

    def comparable(key: str, value: Any) -> Any:
        if key == "eval":
            value = {k: v for k, v in value.items() if k != "inception_weights"}
            value["metrics"] = [canonical_metric(m) for m in value.get("metrics", [])]
        return json.loads(json.dumps(value))
    planned = {key: store.get_meta(key) for key in keys}
    return [key for key, value in planned.items()
            if value is not None and comparable(key, value) != comparable(key, getattr(spec, key))]


def update_settings(store, spec: StudySpec, out: Path) -> list[str]:
    """A study planned again into its folder with the same tasks: a changed eval protocol or resources is refused
    (the folder's results were made under its own), a changed report, description or name is taken (study.yaml and
    the database), and so are Inception weights given now; returns what was updated."""
    from ganscape.utils.io import atomic_write_text

    refused = changed_settings(store, spec, ("eval", "resources"))
    if refused:
        raise ConfigError(f"--out: {out} was planned with other {' and '.join(refused)} settings than this study "
                          f"file's (the same tasks), and its results were made under those: plan into a new folder, "
                          f"or keep the settings of {out / 'study.yaml'}")
    updated = changed_settings(store, spec, ("report", "description", "name"))
    if updated:
        atomic_write_text(out / "study.yaml", dump_yaml(spec.source))
        for key in updated:
            store.set_meta(key, getattr(spec, key))
    weights = spec.eval.get("inception_weights")
    if weights and store.get_meta("eval", {}).get("inception_weights") != weights:
        store.set_meta("eval", {**store.get_meta("eval", {}), "inception_weights": weights})
        updated.append("eval.inception_weights")
    return updated
