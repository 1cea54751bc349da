"""Dotted keys (``optim.d.lr``) and the merge rule shared by presets, overrides and studies.

The rule: mappings merge key by key, except that a mapping whose ``name`` changes (a component
section such as ``loss: {name: hinge}``) is replaced whole, so options of the old component
never leak into the new one.
"""
from __future__ import annotations

import copy
from typing import Any

from ganscape.registry import ConfigError


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``update`` into a copy of ``base`` (see the module docstring for ``name``)."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        old = out.get(key)
        renamed = isinstance(value, dict) and isinstance(old, dict) and "name" in value and value["name"] != old.get("name")
        if isinstance(value, dict) and isinstance(old, dict) and not renamed:
            out[key] = merge(old, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


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
    """A copy of ``config`` with ``key`` set. Setting ``<section>.name`` to another component
    starts that section from the new component's defaults, as the merge rule does."""
    parts = key.split(".")
    if any(not part for part in parts):
        raise ConfigError(f"{key!r}: a dotted key has an empty part")
    if parts[-1] == "name" and len(parts) >= 2:
        parent = lookup(config, ".".join(parts[:-1]))
        if isinstance(parent, dict) and parent.get("name") == value:
            return copy.deepcopy(config)
    update: Any = copy.deepcopy(value)
    if parts[-1] == "name" and len(parts) >= 2:
        parts, update = parts[:-1], {"name": update}
        return _replace(config, parts, update)
    for part in reversed(parts):
        update = {part: update}
    return merge(config, update)


def _replace(config: dict[str, Any], parts: list[str], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(config)
    node = out
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
    return out


def parse_override(text: str) -> tuple[str, Any]:
    """``"train.steps=2000"`` -> ("train.steps", 2000); the value is parsed as YAML."""
    from ganscape.config.yaml_io import parse_yaml

    if "=" not in text:
        raise ConfigError(f"override {text!r} is not key=value (e.g. loss.name=hinge)")
    key, raw = text.split("=", 1)
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} has an empty key")
    return key, (parse_yaml(raw, f"override {key}") if raw != "" else "")


def apply_overrides(config: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    out = copy.deepcopy(config)
    for text in overrides:
        key, value = parse_override(text)
        out = set_dotted(out, key, value)
    return out
