"""What a run config may hold, per run kind.

A run has a ``kind``: ``gan`` (one generator against one discriminator, conditional or not) or ``translation``
(CycleGAN: two domains, two translators, two patch critics). Each kind has its defaults, its *component sections*
(``{name: ..., **options}`` mappings whose name is looked up in a registry; every other key is checked against the
type of its default) and the function that builds a run's parts from a resolved config."""
from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass
from typing import Any

from ganscape.metrics.protocol import EVAL_DEFAULTS
from ganscape.registry import ConfigError, Registry

ADAM = {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]}
OPTIMIZERS = "ganscape.training.optimizers:OPTIMIZERS"
TRAIN = {"steps": 2000, "batch_size": 64, "ema_decay": 0.0, "log_every": 50, "checkpoint_every": 500,
         "sample_every": 500, "keep_checkpoints": 0,
         # speed (``ganscape.training.precision`` / ``wrappers``; docs/performance.md) and multi-process runs
         "precision": "auto", "channels_last": "auto", "compile": False, "check_ranks_every": 500}
# Evaluation during training (every > 0 steps) with the protocol of ``ganscape.metrics.protocol``.
EVAL = {"every": 0, **EVAL_DEFAULTS}
SCHEDULES = "ganscape.training.schedules:SCHEDULES"


def _import(where: str) -> Any:
    module, attr = where.split(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Schema:
    """Defaults, component sections (dotted section key -> "module:REGISTRY") and the parts builder
    ("module:function", config -> parts) of one run kind."""

    kind: str
    description: str
    defaults: dict[str, Any]
    sections: dict[str, str]
    builder: str

    def registries(self) -> dict[str, Registry]:
        """Section -> registry (imported on first use: registering happens at import time)."""
        return {section: _import(where) for section, where in self.sections.items()}

    def fresh_defaults(self) -> dict[str, Any]:
        return copy.deepcopy(self.defaults)

    def build_parts(self, config: dict[str, Any]) -> Any:
        return _import(self.builder)(config)


GAN = Schema(
    "gan", "one generator against one discriminator (conditional when they take labels)",
    {"kind": "gan", "seed": 0, "device": "auto", "data": {"name": "ring8"}, "prior": {"name": "gaussian", "dim": 2},
     "generator": {"name": "mlp"}, "discriminator": {"name": "mlp"}, "loss": {"name": "nonsaturating"},
     "penalty": {"name": "none"}, "scheme": {"name": "alternating"}, "schedule": {"name": "constant"},
     "optim": {"g": dict(ADAM), "d": dict(ADAM)}, "train": dict(TRAIN), "eval": dict(EVAL)},
    {"data": "ganscape.data:DATASETS", "prior": "ganscape.priors:PRIORS", "generator": "ganscape.models:GENERATORS",
     "discriminator": "ganscape.models:DISCRIMINATORS", "loss": "ganscape.losses:OBJECTIVES",
     "penalty": "ganscape.penalties:PENALTIES", "scheme": "ganscape.training.schemes:SCHEMES", "schedule": SCHEDULES,
     "optim.g": OPTIMIZERS, "optim.d": OPTIMIZERS},
    "ganscape.training.gan_parts:build_gan_parts")

TRANSLATION = Schema(
    "translation", "unpaired image-to-image translation (CycleGAN): data -> data_b and back",
    {"kind": "translation", "seed": 0, "device": "auto", "data": {"name": "digits", "size": 16},
     "data_b": {"name": "digits", "size": 16, "invert": True}, "generator": {"name": "resnet"},
     "discriminator": {"name": "patchgan"}, "loss": {"name": "cyclegan"}, "schedule": {"name": "constant"},
     "optim": {"g": dict(ADAM), "d": dict(ADAM)}, "train": {**TRAIN, "batch_size": 1}, "eval": dict(EVAL)},
    {"data": "ganscape.data:DATASETS", "data_b": "ganscape.data:DATASETS",
     "generator": "ganscape.translation:TRANSLATORS", "discriminator": "ganscape.translation:PATCH_CRITICS",
     "loss": "ganscape.translation:TRANSLATION_OBJECTIVES", "schedule": SCHEDULES, "optim.g": OPTIMIZERS,
     "optim.d": OPTIMIZERS},
    "ganscape.translation.parts:build_translation_parts")

SCHEMAS = {schema.kind: schema for schema in (GAN, TRANSLATION)}


def schema_for(kind: Any) -> Schema:
    if not isinstance(kind, str) or kind not in SCHEMAS:  # a list or mapping is unhashable: a TypeError otherwise
        raise ConfigError(f"kind: unknown run kind {kind!r}; valid: {', '.join(SCHEMAS)}")
    return SCHEMAS[kind]


def with_component_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` whose component sections also list their default options, so that comparisons show only
    real differences (``norm: none`` equals an absent ``norm``)."""
    import inspect

    out = copy.deepcopy(config)
    for section, registry in schema_for(config.get("kind", "gan")).registries().items():
        part = out.get(section)
        if isinstance(part, dict) and part.get("name") in registry:
            for opt, param in registry.get(part["name"]).options(registry.context_args).items():
                if param.default is not inspect.Parameter.empty:
                    part.setdefault(opt, param.default)
    return out
