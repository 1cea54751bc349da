"""Study specs: a base run config plus a search space, read from YAML files like::

    name: landscape-toy
    description: objectives x penalties x normalisations on toy data
    base: ring8                      # preset name, YAML path (relative to the study) or a mapping
    overrides: [train.steps=1000]    # optional key=value strings applied to the base
    grid:                            # cartesian product, in the order written
      dataset:                       # a *named* axis: label -> partial config merged in
        ring8: {data: {name: ring8}}
        digits: {data: {name: digits, size: 16}, generator: {name: dcgan, ngf: 16}}
      loss.name: [nonsaturating, wgan]      # a dotted-key axis: list of values
    random:                          # optional: `samples` draws per grid point, fixed seed
      samples: 2
      seed: 0
      space: {optim.d.lr: {loguniform: [1.0e-4, 1.0e-3]}, train.batch_size: {choice: [32, 64]}}
    tie: {optim.g.lr: optim.d.lr}    # optional: copy one key's value into another
    seeds: [0, 1]                    # each point is repeated per training seed
    eval: {metrics: [default], n: 2000}   # the protocol: see ganscape.metrics.protocol (reference_n, extractor,
                                          # classifier, inception_weights, inception_sha256)
    resources: {cpus: 1, gpus: 0}    # what one task asks the Ray scheduler for
    report: {metrics: [reverse_kl, fid]}   # preferred metrics, first one present wins (toy data: its protocol)

Named axes are applied first (they may swap whole component sections), then dotted axes, random draws, ties, the seed.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ganscape.config import apply_overrides, dump_yaml, merge, read_source, read_yaml, schema_for
from ganscape.config.load import resolve_base as resolve_source_base, upgrade_legacy
from ganscape.config.validate import check_plain
from ganscape.config.yaml_io import parse_yaml
from ganscape.metrics.protocol import EVAL_DEFAULTS, check_eval
from ganscape.registry import ConfigError

SPEC_KEYS = ("name", "description", "base", "overrides", "grid", "random", "tie", "seeds", "eval",
             "resources", "report")
DISTRIBUTIONS = ("choice", "uniform", "loguniform", "int")
DEFAULT_EVAL = {**EVAL_DEFAULTS, "n": 2000}
DEFAULT_RESOURCES = {"cpus": 1, "gpus": 0}


@dataclass
class Axis:
    """One grid dimension: ``key`` is a dotted config key or an axis label; ``values`` maps a
    short label to what it sets (a value for dotted axes, a partial config for named ones)."""

    key: str
    values: dict[str, Any]
    named: bool


@dataclass
class StudySpec:
    name: str
    description: str
    base: dict[str, Any]
    axes: list[Axis]
    random: dict[str, Any] | None
    tie: dict[str, str]
    seeds: list[int]
    eval: dict[str, Any]
    resources: dict[str, float]
    report: dict[str, Any]
    source: dict[str, Any] = field(default_factory=dict)


def builtin_names() -> list[str]:
    folder = resources.files("ganscape.studies").joinpath("builtin")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def read_study(source: str | Path | dict[str, Any]) -> StudySpec:
    """Read a study from a YAML path, a built-in study name or a mapping."""
    if isinstance(source, dict):
        return parse_study(source, Path.cwd())
    path = Path(source)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise ConfigError(f"study file not found: {source}")
        return parse_study(read_yaml(path) or {}, path.parent)
    if str(source) in builtin_names():
        text = resources.files("ganscape.studies").joinpath("builtin", f"{source}.yaml").read_text(encoding="utf-8")
        return parse_study(parse_yaml(text, f"study {source}") or {}, Path.cwd())
    raise ConfigError(f"unknown study {str(source)!r}: not a file and not a built-in study; "
                      f"built-in: {', '.join(builtin_names())}")


def parse_study(data: dict[str, Any], folder: Path) -> StudySpec:
    """Check a study mapping and normalise it; errors name the key and the valid choices."""
    if not isinstance(data, dict):
        raise ConfigError(f"a study must be a mapping, got {type(data).__name__}")
    for key in data:
        if key not in SPEC_KEYS:
            raise ConfigError(f"{key}: unknown study key; valid keys: {', '.join(SPEC_KEYS)}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"name: a study needs a non-empty name, got {name!r}")
    seeds = data.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ConfigError(f"seeds: expected a non-empty list of integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds: each seed once (a repeated seed trains the same run twice), got {seeds!r}")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise ConfigError(f"description: expected text, got {description!r}")
    axes, random = parse_grid(data.get("grid", {})), parse_random(data.get("random"))
    tie = parse_tie(data.get("tie") or {})
    check_disjoint(axes, random, tie)
    check_task_count(axes, random, seeds)
    return StudySpec(
        name=name, description=description,
        base=resolve_base(data.get("base"), data.get("overrides", []), folder),
        axes=axes, random=random,
        tie=tie, seeds=seeds, eval=check_eval(_section(data, "eval", DEFAULT_EVAL)),
        resources=check_resources(_section(data, "resources", DEFAULT_RESOURCES)),
        report=check_report(_section(data, "report", {"metrics": []})),
        source=copy.deepcopy(data))


def _section(data: dict[str, Any], key: str, defaults: dict[str, Any]) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a mapping, got {value!r}")
    unknown = sorted(set(value) - set(defaults))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}: unknown key; valid keys: {', '.join(defaults)}")
    return {**copy.deepcopy(defaults), **value}


def is_number(value: Any) -> bool:
    """An int or float from YAML (a bool is not one)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_resources(section: dict[str, Any]) -> dict[str, Any]:
    """``resources``: what one task asks the Ray scheduler for, each a number >= 0."""
    for key, value in section.items():
        if not (is_number(value) and 0 <= value < math.inf):
            raise ConfigError(f"resources.{key}: expected a finite number >= 0, got {value!r}")
    return section


def check_metric_name(name: str, key: str) -> None:
    """Refuse a ``name`` that is no registered metric's output (the error, prefixed by ``key``, lists them)."""
    from ganscape.metrics import direction

    try:
        direction(name)
    except ConfigError as err:
        raise ConfigError(f"{key}: {err}") from None


def check_report(section: dict[str, Any]) -> dict[str, Any]:
    """``report.metrics``: a list of registered metric names (or their outputs), tried in order."""
    metrics = section["metrics"]
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise ConfigError(f"report.metrics: expected a list of metric names, e.g. [reverse_kl, fid], got {metrics!r}")
    for name in metrics:
        check_metric_name(name, "report.metrics")
    return section


def resolve_base(base: Any, overrides: Any, folder: Path) -> dict[str, Any]:
    """The full (defaults-merged) base config, not yet validated."""
    if base is None:
        data: dict[str, Any] = {}
    elif isinstance(base, dict):
        data = resolve_source_base(upgrade_legacy(copy.deepcopy(base)), folder, ())
    elif isinstance(base, str):
        data = read_source(base, folder)
    else:
        raise ConfigError(f"base: expected a preset name, a YAML path or a mapping, got {base!r}")
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise ConfigError(f"overrides: expected a list of key=value strings, got {overrides!r}")
    with_defaults(data, "base")  # unknown keys here, not as "task 0: ..."
    return with_defaults(apply_overrides(data, overrides), "overrides")


def with_defaults(data: dict[str, Any], where: str) -> dict[str, Any]:
    """``data`` merged onto its kind's defaults; ConfigError naming ``where`` for a key no run config has (a
    component's own options, those of ``generator``, ``loss``, ..., are checked with each task)."""
    schema = schema_for(data.get("kind", "gan"))
    merged = merge(schema.fresh_defaults(), data)
    try:
        check_plain(merged, schema.defaults, "", set(schema.sections))
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    return merged


RESERVED = {"seed": "set seeds with the top-level seeds: list", "sample": "it names a random draw"}


def check_axis_key(key: Any, where: str) -> None:
    """An axis or random key may not be one the planner sets itself (each task's seed, a random draw's number):
    the planner would overwrite it, and the tasks of its values would be the same run."""
    if key in RESERVED:
        raise ConfigError(f"{where}.{key}: not an axis; {RESERVED[key]}")


def parse_grid(grid: Any) -> list[Axis]:
    if grid is None:
        grid = {}
    if not isinstance(grid, dict):
        raise ConfigError(f"grid: expected a mapping of axis -> values, got {grid!r}")
    axes = []
    for key, values in grid.items():
        check_axis_key(key, "grid")
        if isinstance(values, dict) and any(part.get("seed") is not None for part in values.values()
                                            if isinstance(part, dict)):
            raise ConfigError(f"grid.{key}: a named value sets seed; {RESERVED['seed']}")
        if isinstance(values, dict) and values:
            for label, part in values.items():
                if not isinstance(part, dict):
                    raise ConfigError(f"grid.{key}.{label}: a named axis value must be a partial config mapping, got {part!r}")
            labels = [str(k) for k in values]
            if len(set(labels)) != len(labels):  # {1: ..., "1": ...}: one label, and one of the two configs lost
                raise ConfigError(f"grid.{key}: labels must be distinct as text, got {list(values)!r}")
            check_labels(f"grid.{key}", labels)
            axes.append(Axis(str(key), {str(k): v for k, v in values.items()}, named=True))
        elif isinstance(values, list) and values:
            labels = [value_label(v) for v in values]
            if len(set(labels)) != len(labels):
                raise ConfigError(f"grid.{key}: values must be distinct, got {values!r}")
            check_labels(f"grid.{key}", labels)
            axes.append(Axis(str(key), dict(zip(labels, values)), named=False))
        else:
            raise ConfigError(f"grid.{key}: expected a non-empty list of values or a mapping label -> "
                              f"partial config, got {values!r}")
    return axes


MAX_TASKS = 100_000  # a study this size is weeks of GPU time; more is a typo (and planning it would not end)


def leaf_keys(part: dict[str, Any], prefix: str = "") -> set[str]:
    """The dotted keys a partial config sets: ``{data: {name: x, std: 1}}`` -> {data.name, data.std}."""
    keys = set()
    for key, value in part.items():
        dotted = f"{prefix}{key}"
        keys |= leaf_keys(value, dotted + ".") if isinstance(value, dict) and value else {dotted}
    return keys


def check_disjoint(axes: list[Axis], random: dict[str, Any] | None, tie: dict[str, str] | None = None) -> None:
    """No two axes (or random keys) may set one key: the one applied last would win silently, and the tasks'
    labels would name a level whose value is not the run's (``a: {x: {train: {steps: 5}}}`` with
    ``b: {y: {train: {steps: 6}}}`` trained 6 steps under the label x). Nor may a ``tie`` target be one of their
    keys: the tie copies its source's value over the level (a task labelled lr 0.005 trained at 0.001)."""
    owners = [(axis.key, set().union(*(leaf_keys(v) for v in axis.values.values())) if axis.named else {axis.key})
              for axis in axes]
    owners += [(f"random.space.{key}", {key}) for key in (random or {}).get("space", {})]
    for i, (first, first_keys) in enumerate(owners):
        for second, second_keys in owners[i + 1:]:
            if shared := overlapping(first_keys, second_keys):
                raise ConfigError(f"grid: {first} and {second} both set {shared[0]}; one key, one axis (the later "
                                  "would override the earlier's level silently)")
    for target, source in (tie or {}).items():
        for owner, keys in owners:
            if overlapping({target}, keys):
                raise ConfigError(f"tie.{target}: {owner} sets it too, and the tie would copy {source} over its "
                                  f"levels silently; tie the other way ({source}: {target}) or drop one of them")


def overlapping(first: set[str], second: set[str]) -> list[str]:
    """The dotted keys of ``first`` that ``second`` sets too, itself or through a section above or below it."""
    return sorted(a for a in first for b in second if a == b or a.startswith(b + ".") or b.startswith(a + "."))


def check_task_count(axes: list[Axis], random: dict[str, Any] | None, seeds: list[int]) -> None:
    count = math.prod(len(axis.values) for axis in axes) * (random["samples"] if random else 1) * len(seeds)
    if count > MAX_TASKS:
        raise ConfigError(f"grid: the study would have {count:,} tasks (grid points x random.samples x seeds); at "
                          f"most {MAX_TASKS:,}")


def check_labels(where: str, labels: list[str]) -> None:
    """Labels name tasks on one line (task files' header comment, ``study status``): no line breaks or other
    unprintable characters."""
    for label in labels:
        if not label.isprintable():
            raise ConfigError(f"{where}: the label {label!r} holds a line break or another unprintable character; "
                              "labels name tasks on one line")


def parse_random(section: Any) -> dict[str, Any] | None:
    if section is None:
        return None
    if not isinstance(section, dict) or not isinstance(section.get("space"), dict):
        raise ConfigError(f"random: expected {{samples: N, seed: S, space: {{key: {{choice|uniform|loguniform|int: ...}}}}}}, got {section!r}")
    if unknown := sorted(set(map(str, section)) - {"samples", "seed", "space"}):
        raise ConfigError(f"random.{unknown[0]}: unknown key; valid: samples, seed, space")
    samples, seed = section.get("samples", 1), section.get("seed", 0)
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise ConfigError(f"random.samples: expected a positive integer, got {samples!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"random.seed: expected an integer >= 0, got {seed!r}")
    for key, dist in section["space"].items():
        check_axis_key(key, "random.space")
        if not (isinstance(dist, dict) and len(dist) == 1 and next(iter(dist)) in DISTRIBUTIONS):
            raise ConfigError(f"random.space.{key}: expected one of {{{'|'.join(DISTRIBUTIONS)}: ...}}, got {dist!r}")
        kind, arg = next(iter(dist.items()))
        if kind == "choice" and not (isinstance(arg, list) and arg):
            raise ConfigError(f"random.space.{key}.choice: expected a non-empty list, got {arg!r}")
        if kind == "choice":
            check_labels(f"random.space.{key}.choice", [value_label(v) for v in arg])
        numbers = isinstance(arg, list) and all(is_number(v) and math.isfinite(v) for v in arg)
        if kind != "choice" and not (numbers and len(arg) == 2 and arg[0] <= arg[1]):
            raise ConfigError(f"random.space.{key}.{kind}: expected [low, high], two finite numbers with low <= "
                              f"high, got {arg!r}")
        if kind == "loguniform" and arg[0] <= 0:
            raise ConfigError(f"random.space.{key}.loguniform: bounds must be > 0, got {arg!r}")
        if kind == "uniform" and not math.isfinite(arg[1] - arg[0]):  # numpy draws low + (high - low) * u
            raise ConfigError(f"random.space.{key}.uniform: high - low must be a finite number, got {arg!r}")
        if kind == "int" and not all(float(v).is_integer() and abs(v) < 2 ** 62 for v in arg):  # 256.0 is whole
            raise ConfigError(f"random.space.{key}.int: expected [low, high], two whole numbers (inclusive) within "
                              f"+-2**62, got {arg!r}")
    return {"samples": samples, "seed": seed, "space": dict(section["space"])}


def parse_tie(tie: Any) -> dict[str, str]:
    if not isinstance(tie, dict) or not all(isinstance(v, str) for v in tie.values()):
        raise ConfigError(f"tie: expected a mapping target.key -> source.key, got {tie!r}")
    return {str(k): v for k, v in tie.items()}


def value_label(value: Any) -> str:
    """A short, stable text label for an axis value (used in task names and reports)."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (dict, list)):
        return dump_yaml(value, flow=True, sort_keys=True).strip()
    return str(value)
