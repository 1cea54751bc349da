"""Run configuration: one plain, serialisable dict per run.

A config is built from ``DEFAULTS``, then a preset or YAML file, then ``key=value``
overrides with dotted keys (``loss.name=hinge``, ``train.steps=2000``). Component sections
(``data``, ``generator``, ``loss``, ...) are ``{name: ..., **options}`` and are checked
against their registry; every other key is checked against the type of its default.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ganscape.registry import ConfigError


class ConfigLoader(yaml.SafeLoader):
    """YAML safe loader that also reads ``1e-3`` as a float (YAML 1.1 wants ``1.0e-3``)."""


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^[-+]?(?:[0-9][0-9_]*)\.?[0-9_]*(?:[eE][-+]?[0-9]+)$"""),
    list("-+0123456789"),
)


def parse_yaml(text: str):
    return yaml.load(text, Loader=ConfigLoader)  # a SafeLoader subclass: no Python objects

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "device": "auto",
    "data": {"name": "ring8"},
    "prior": {"name": "gaussian", "dim": 2},
    "generator": {"name": "mlp"},
    "discriminator": {"name": "mlp"},
    "loss": {"name": "nonsaturating"},
    "penalty": {"name": "none"},
    "scheme": {"name": "alternating"},
    "optim": {
        "g": {"lr": 2e-4, "betas": [0.5, 0.999]},
        "d": {"lr": 2e-4, "betas": [0.5, 0.999]},
    },
    "train": {
        "steps": 2000,
        "batch_size": 64,
        "ema_decay": 0.0,
        "log_every": 50,
        "checkpoint_every": 500,
        "sample_every": 500,
        "keep_checkpoints": 0,
    },
    # Periodic evaluation during training (every > 0 steps), logged to metrics.jsonl.
    "eval": {"every": 0, "metrics": [], "n": 5000},
}

# Sections selected by name from a registry; their options are validated there.
COMPONENT_SECTIONS = ("data", "prior", "generator", "discriminator", "loss", "penalty", "scheme")
# Keys that may change when a run is resumed: the budget, and what is logged, saved or
# evaluated along the way (none of these changes the training trajectory).
RESUMABLE_CHANGES = ("train.steps", "train.log_every", "train.checkpoint_every", "train.sample_every",
                     "train.keep_checkpoints", "eval.every", "eval.metrics", "eval.n")
ALLOWED_VALUES = {"device": ("auto", "cpu", "cuda")}


def registries():
    """Map each component section to its registry (imported lazily: registering is import time)."""
    from ganscape.data import DATASETS
    from ganscape.losses import OBJECTIVES
    from ganscape.models import DISCRIMINATORS, GENERATORS
    from ganscape.penalties import PENALTIES
    from ganscape.priors import PRIORS
    from ganscape.training.schemes import SCHEMES

    return {"data": DATASETS, "prior": PRIORS, "generator": GENERATORS, "discriminator": DISCRIMINATORS,
            "loss": OBJECTIVES, "penalty": PENALTIES, "scheme": SCHEMES}


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("ganscape.presets").iterdir() if p.name.endswith(".yaml"))


def read_preset(name: str) -> dict[str, Any]:
    return parse_yaml(resources.files("ganscape.presets").joinpath(f"{name}.yaml").read_text()) or {}


def read_source(source: str) -> dict[str, Any]:
    """Read a YAML file path or a built-in preset name."""
    path = Path(source)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise ConfigError(f"config file not found: {source}")
        data = parse_yaml(path.read_text()) or {}
    elif source in preset_names():
        data = read_preset(source)
    else:
        raise ConfigError(f"unknown config {source!r}: not a file, and not a preset; presets: {', '.join(preset_names())}")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a config must be a mapping, got {type(data).__name__}")
    data.pop("description", None)
    return data


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``update`` into a copy of ``base``. A component section whose ``name``
    changes is replaced whole, so options of the old component do not leak into the new."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if (isinstance(value, dict) and isinstance(out.get(key), dict)
                and not (key in COMPONENT_SECTIONS and value.get("name", out[key].get("name")) != out[key].get("name"))):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.steps=2000"`` -> (["train", "steps"], 2000); the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not key=value (e.g. loss.name=hinge)")
    key, raw = text.split("=", 1)
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} has an empty key")
    return key.split("."), parse_yaml(raw) if raw != "" else ""


def apply_overrides(config: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    out = copy.deepcopy(config)
    for text in overrides:
        path, value = parse_override(text)
        update: Any = value
        for part in reversed(path):
            update = {part: update}
        if path[-1] == "name" and len(path) == 2 and path[0] in COMPONENT_SECTIONS:
            out[path[0]] = {"name": value}  # a new component starts from its own defaults
        else:
            out = merge(out, update)
    return out


def load_config(source: str | dict[str, Any] | None = None, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Resolve defaults + source (path, preset name or dict) + overrides, then validate."""
    data = source if isinstance(source, dict) else (read_source(source) if source else {})
    config = apply_overrides(merge(DEFAULTS, data), list(overrides))
    validate(config)
    return config


def validate(config: dict[str, Any]) -> None:
    """Raise ConfigError naming the first bad key, its value and the valid choices."""
    regs = registries()
    for section in COMPONENT_SECTIONS:
        regs[section].validate(config.get(section), section)
    _check_plain(config, DEFAULTS, "")
    for key, allowed in ALLOWED_VALUES.items():
        if config[key] not in allowed:
            raise ConfigError(f"{key}: {config[key]!r} is not valid; choose one of {', '.join(allowed)}")
    train = config["train"]
    for key in ("steps", "batch_size", "log_every"):
        if train[key] < 1:
            raise ConfigError(f"train.{key}: must be >= 1, got {train[key]}")
    if not 0.0 <= train["ema_decay"] < 1.0:
        raise ConfigError(f"train.ema_decay: must be in [0, 1) (0 disables EMA), got {train['ema_decay']}")
    validate_eval(config.get("eval", DEFAULTS["eval"]))
    for net in ("g", "d"):
        betas = config["optim"][net]["betas"]
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ConfigError(f"optim.{net}.betas: need two values in [0, 1), got {betas}")


def validate_eval(section: dict[str, Any]) -> None:
    """eval.every >= 0, eval.n >= 2, eval.metrics registered metric names (or {name, ...})."""
    from ganscape.metrics import build_metric

    if section["every"] < 0:
        raise ConfigError(f"eval.every: must be >= 0 (0 disables), got {section['every']}")
    if section["n"] < 2:
        raise ConfigError(f"eval.n: must be >= 2, got {section['n']}")
    for i, metric in enumerate(section["metrics"]):
        build_metric(metric, key=f"eval.metrics[{i}]")
    if section["every"] and not section["metrics"]:
        raise ConfigError("eval.metrics: eval.every is set but no metric is listed (e.g. [fid, kid])")


def _check_plain(config: dict[str, Any], defaults: dict[str, Any], prefix: str) -> None:
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if key not in defaults:
            raise ConfigError(f"{dotted}: unknown key; valid keys here: {', '.join(sorted(defaults))}")
        if not prefix and key in COMPONENT_SECTIONS:
            continue
        default = defaults[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{dotted}: expected a mapping, got {value!r}")
            _check_plain(value, default, dotted + ".")
        elif not _same_kind(value, default):
            raise ConfigError(f"{dotted}: expected {type(default).__name__}, got {value!r} ({type(value).__name__})")


def _same_kind(value: Any, default: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, list):
        return isinstance(value, list)
    return isinstance(value, type(default))


def config_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two configs."""
    keys = sorted(set(old) | set(new))
    out = []
    for key in keys:
        a, b, dotted = old.get(key), new.get(key), f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_diff(a, b, dotted + ".")
        elif a != b:
            out.append(dotted)
    return out


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def dump_yaml(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
