"""Dotted keys (``optim.d.lr``), the merge rule shared by presets, overrides and studies, and comparing configs (what
changed, which changes a resumed run may make, a hash).

The merge rule: mappings merge key by key, except that a mapping whose ``name`` changes (a component section such as
``loss: {name: hinge}``) is replaced whole, so options of the old component never leak into the new one. A section
that names no component is merged into, whatever the update names."""
from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from ganscape.config.yaml_io import parse_yaml
from ganscape.registry import ConfigError

# Keys that may change when a run is resumed: the budget, what is logged, saved or evaluated along the way (none of
# these changes the training trajectory), and how fast the same computation runs (precision, memory format,
# compilation: the same trajectory up to rounding).
RESUMABLE_CHANGES = ("train.steps", "train.log_every", "train.checkpoint_every", "train.sample_every",
                     "train.keep_checkpoints", "train.precision", "train.channels_last", "train.compile",
                     "train.check_ranks_every", "eval.every", "eval.metrics", "eval.n", "eval.reference_n",
                     "eval.extractor", "eval.classifier", "eval.inception_weights", "eval.inception_sha256")


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``update`` into a copy of ``base`` (see the module docstring for ``name``)."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict) and not renames(old, value):
            out[key] = merge(old, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def renames(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether ``new`` selects another component than ``old``: both name one, and the names differ. A section without
    a name (``optim.d: {lr: 0.001}``) names none, so giving it one (``optim.d.name=adam``) merges into it."""
    return "name" in old and "name" in new and old["name"] != new["name"]


def get_dotted(config: dict[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{key}: not a key of the run config")
        node = node[part]
    return node


def lookup(config: dict[str, Any], key: str, default: Any = None) -> Any:
    """``get_dotted`` that returns ``default`` for a missing key."""
    try:
        return get_dotted(config, key)
    except ConfigError:
        return default


def set_dotted(config: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """A copy of ``config`` with ``key`` set; ``SECTION.name`` set to another component starts
    that section from the new component's defaults (the merge rule)."""
    parts = key.split(".")
    if any(not part for part in parts):
        raise ConfigError(f"{key!r}: a dotted key has an empty part")
    update: Any = copy.deepcopy(value)
    if parts[-1] == "name" and len(parts) > 1:
        parts, update = parts[:-1], {"name": update}
    for part in reversed(parts):
        update = {part: update}
    return merge(config, update)


def apply_overrides(config: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Apply ``key=value`` strings in order; values are parsed as YAML (``optim.d.betas=[0.0, 0.9]``). A
    ``SECTION.name=`` that swaps the component keeps the options this list gave that section before it
    (``optim.d.lr=1e-3 optim.d.name=rmsprop`` is RMSProp at 1e-3, as the mapping ``optim.d={lr: ..., name: ...}`` is),
    while the base config's options of the old component are dropped."""
    given: list[tuple[str, Any]] = []
    for text in overrides:
        key, sep, raw = text.partition("=")
        if not sep:
            raise ConfigError(f"override {text!r} is not key=value (e.g. loss.name=hinge)")
        if not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override {text!r} has an empty key")
        value = parse_yaml(raw, f"override {key}") if raw else ""
        config = set_dotted(config, key, value)
        if key.endswith(".name"):
            section = key[:-len("name")]
            for earlier, earlier_value in given:
                if earlier.startswith(section) and earlier != key:
                    config = set_dotted(config, earlier, earlier_value)
        given.append((key, value))
    return copy.deepcopy(config)


def config_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two configs."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b, dotted = old.get(key), new.get(key), f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_diff(a, b, dotted + ".")
        elif a != b:
            out.append(dotted)
    return out


def forbidden_resume_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for each change a resumed run may not make (``train.steps`` only while
    the learning-rate schedule does not depend on it)."""
    allowed = set(RESUMABLE_CHANGES) - ({"train.steps"} if lookup(new, "schedule.name", "constant") != "constant" else set())
    return [f"{key}: {lookup(old, key)!r} -> {lookup(new, key)!r}" for key in config_diff(old, new) if key not in allowed]


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
