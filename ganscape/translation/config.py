"""Config of a CycleGAN run: DEFAULTS + preset/YAML + ``key=value`` overrides, validated.

Built-in presets live in ``ganscape/translation/presets`` (kept apart from the GAN presets
because a translation run has a different shape: two datasets, two G, two D).
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ganscape.config import apply_overrides, merge
from ganscape.data import DATASETS
from ganscape.registry import ConfigError
from ganscape.translation.models import CRITICS, TRANSLATORS

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "device": "auto",
    "data_a": {"name": "digits", "size": 16},
    "data_b": {"name": "digits", "size": 16, "invert": True},
    "generator": {"name": "resnet"},
    "discriminator": {"name": "patchgan"},
    "lambda_cycle": 10.0,
    "lambda_identity": 0.5,
    "pool_size": 50,
    "optim": {"lr": 2e-4, "betas": [0.5, 0.999]},
    "train": {"steps": 2000, "batch_size": 1, "log_every": 50, "checkpoint_every": 500,
              "sample_every": 500, "keep_checkpoints": 0},
}
SECTIONS = {"data_a": DATASETS, "data_b": DATASETS, "generator": TRANSLATORS, "discriminator": CRITICS}


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("ganscape.translation.presets").iterdir()
                  if p.name.endswith(".yaml"))


def read_source(source: str) -> dict[str, Any]:
    """A YAML file path or a translation preset name -> mapping (without ``description``)."""
    path = Path(source)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise ConfigError(f"config file not found: {source}")
        data = yaml.safe_load(path.read_text()) or {}
    elif source in preset_names():
        data = yaml.safe_load(resources.files("ganscape.translation.presets").joinpath(f"{source}.yaml").read_text())
    else:
        raise ConfigError(f"unknown translation config {source!r}: not a file, and not a preset; "
                          f"presets: {', '.join(preset_names())}")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a config must be a mapping, got {type(data).__name__}")
    data.pop("description", None)
    return data


def load_translation_config(source: str | dict[str, Any] | None = None, overrides=()) -> dict[str, Any]:
    data = source if isinstance(source, dict) else (read_source(source) if source else {})
    config = merge(DEFAULTS, data)
    for section in SECTIONS:  # a given section replaces the default one whole (no option leaks)
        if isinstance(data.get(section), dict):
            config[section] = dict(data[section])
    config = apply_overrides(config, list(overrides))
    validate(config)
    return config


def validate(config: dict[str, Any]) -> None:
    """Raise ConfigError naming the first bad key."""
    for key in config:
        if key not in DEFAULTS:
            raise ConfigError(f"{key}: unknown key; valid keys: {', '.join(sorted(DEFAULTS))}")
    for key, registry in SECTIONS.items():
        registry.validate(config[key], key)
    for key in ("optim", "train"):
        for sub, value in config[key].items():
            if sub not in DEFAULTS[key]:
                raise ConfigError(f"{key}.{sub}: unknown key; valid keys: {', '.join(sorted(DEFAULTS[key]))}")
            _check_number(f"{key}.{sub}", value, DEFAULTS[key][sub])
    for key in ("seed", "lambda_cycle", "lambda_identity", "pool_size"):
        _check_number(key, config[key], DEFAULTS[key])
    if config["device"] not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device: {config['device']!r} is not valid; choose one of auto, cpu, cuda")
    for key in ("lambda_cycle", "lambda_identity", "pool_size"):
        if config[key] < 0:
            raise ConfigError(f"{key}: must be >= 0, got {config[key]}")
    for key in ("steps", "batch_size", "log_every"):
        if config["train"][key] < 1:
            raise ConfigError(f"train.{key}: must be >= 1, got {config['train'][key]}")
    betas = config["optim"]["betas"]
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise ConfigError(f"optim.betas: need two values in [0, 1), got {betas}")


def _check_number(key: str, value: Any, default: Any) -> None:
    if isinstance(default, list):
        ok = isinstance(value, list)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok:
        raise ConfigError(f"{key}: expected {type(default).__name__}, got {value!r}")
