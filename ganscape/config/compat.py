"""Combinations of components that cannot work together, refused with the reason.

Each component validates its own options; the rules here look across sections, using each
option's effective value (the one written, else the factory's default). What needs the data
(image sizes, labels) is checked when the components are built, still before any training.
"""
from __future__ import annotations

import inspect
from typing import Any

from ganscape.registry import ConfigError


def effective(config: dict[str, Any], section: str, option: str, registry) -> Any:
    """The value ``section.option`` has once built: as written, else the factory default (None if absent)."""
    part = config[section]
    if option in part:
        return part[option]
    param = registry.get(part["name"]).options(registry.context_args).get(option)
    return None if param is None or param.default is inspect.Parameter.empty else param.default


def conditional_generator(config: dict[str, Any], registries: dict) -> bool:
    return bool(effective(config, "generator", "conditional", registries["generator"]))


def check_projection_needs_labelled_fakes(config: dict[str, Any], registries: dict) -> None:
    conditioning = effective(config, "discriminator", "conditioning", registries["discriminator"])
    if conditioning == "projection" and not conditional_generator(config, registries):
        raise ConfigError(
            f"discriminator.conditioning: 'projection' scores every batch with its labels, fakes included, but "
            f"generator {config['generator']['name']!r} is unconditional; use a conditional generator "
            "(generator.name=cdcgan, or generator.conditional=true) or discriminator.conditioning=none|acgan")


RULES = {"gan": (check_projection_needs_labelled_fakes,), "translation": ()}


def check_combination(config: dict[str, Any], schema) -> None:
    registries = schema.registries()
    for rule in RULES[schema.kind]:
        rule(config, registries)
