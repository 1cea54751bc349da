"""The one validation path of run configs: every error names the key, the bad value and the
valid choices, and is raised before anything is built, trained or written."""
from __future__ import annotations

import math
from typing import Any

from ganscape.config.schema import Schema, schema_for
from ganscape.registry import ConfigError

DEVICES = ("auto", "cpu", "cuda")
MAX_SEED = 2 ** 31 - 1
# key of the ``train`` section -> (smallest allowed value, what the smallest means)
TRAIN_MINIMUMS = {"steps": (1, ""), "batch_size": (1, ""), "log_every": (1, ""),
                  "checkpoint_every": (0, " (0 = only at the end)"), "sample_every": (0, " (0 = only at the end)"),
                  "keep_checkpoints": (0, " (0 = keep all)")}


def validate(config: Any) -> None:
    """Raise ConfigError naming the first bad key of a fully resolved run config."""
    if not isinstance(config, dict):
        raise ConfigError(f"a run config must be a mapping, got {type(config).__name__}")
    schema = schema_for(config.get("kind", "gan"))
    for section, registry in schema.registries().items():
        registry.validate(config.get(section), section)
    check_plain(config, schema.defaults, "", set(schema.sections))
    check_choice("device", config["device"], DEVICES)
    check_range("seed", config["seed"], 0, MAX_SEED)
    check_train(config["train"])
    for net, section in config["optim"].items():
        check_optimizer(f"optim.{net}", section)
    check_eval(config["eval"])
    from ganscape.config.compat import check_combination
    check_combination(config, schema)


def check_choice(key: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ConfigError(f"{key}: {value!r} is not valid; choose one of {', '.join(map(str, choices))}")


def check_range(key: str, value: float, low: float | None = None, high: float | None = None,
                what: str = "") -> None:
    """low <= value <= high, finite; ``what`` explains the bound in the message."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}: must be a finite number, got {value}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (f">= {low}" if high is None else f"<= {high}" if low is None else f"in [{low}, {high}]")
        raise ConfigError(f"{key}: must be {bounds}{what}, got {value}")


def check_train(train: dict[str, Any]) -> None:
    for key, (low, meaning) in TRAIN_MINIMUMS.items():
        check_range(f"train.{key}", train[key], low, what=meaning)
    ema = train["ema_decay"]
    if not (isinstance(ema, (int, float)) and 0.0 <= ema < 1.0):
        raise ConfigError(f"train.ema_decay: must be in [0, 1) (0 disables EMA), got {ema}")


def check_optimizer(key: str, section: dict[str, Any]) -> None:
    lr = section["lr"]
    if not (math.isfinite(lr) and lr > 0):
        raise ConfigError(f"{key}.lr: must be a finite number > 0, got {lr}")
    betas = section["betas"]
    if len(betas) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas):
        raise ConfigError(f"{key}.betas: need two numbers in [0, 1), got {betas}")


def check_eval(section: dict[str, Any]) -> None:
    """eval.every >= 0, eval.n >= 2, eval.metrics registered metric names (or ``default``)."""
    from ganscape.metrics import check_metric_list

    check_range("eval.every", section["every"], 0, what=" (0 disables evaluation during training)")
    check_range("eval.n", section["n"], 2)
    check_metric_list(section["metrics"], "eval.metrics")
    weights = section["inception_weights"]
    if weights is not None and not (isinstance(weights, str) and weights):
        raise ConfigError(f"eval.inception_weights: expected a file path or null, got {weights!r}")


def check_plain(config: dict[str, Any], defaults: dict[str, Any], prefix: str, components: set[str]) -> None:
    """Every key known, every plain value of its default's type (component sections skipped)."""
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if key not in defaults:
            raise ConfigError(f"{dotted}: unknown key; valid keys here: {', '.join(sorted(defaults))}")
        if not prefix and key in components:
            continue
        default = defaults[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{dotted}: expected a mapping, got {value!r}")
            check_plain(value, default, dotted + ".", components)
        elif not same_kind(value, default):
            expected = "a file path or null" if default is None else type(default).__name__
            raise ConfigError(f"{dotted}: expected {expected}, got {value!r} ({type(value).__name__})")
    for key in defaults:
        if key not in config:
            raise ConfigError(f"{prefix}{key}: missing key")


def same_kind(value: Any, default: Any) -> bool:
    if default is None:
        return value is None or isinstance(value, str)
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, list):
        return isinstance(value, list)
    return isinstance(value, type(default))


def schema_of(config: dict[str, Any]) -> Schema:
    return schema_for(config.get("kind", "gan"))
