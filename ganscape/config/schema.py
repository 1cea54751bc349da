"""What a run config may hold, per run kind.

A run has a ``kind``: ``gan`` (one generator and one discriminator, conditional or not) or
``translation`` (CycleGAN: two domains, two translators, two patch critics). Each kind has
its defaults and its *component sections*, ``{name: ..., **options}`` mappings whose name is
looked up in a registry; every other key is checked against the type of its default.
"""
from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass
from typing import Any

from ganscape.registry import ConfigError, Registry

TRAIN_DEFAULTS: dict[str, Any] = {
    "steps": 2000,
    "batch_size": 64,
    "ema_decay": 0.0,
    "log_every": 50,
    "checkpoint_every": 500,
    "sample_every": 500,
    "keep_checkpoints": 0,
}
# Evaluation during training (every > 0 steps); ``default`` is the dataset's default metric set.
EVAL_DEFAULTS: dict[str, Any] = {"every": 0, "metrics": ["default"], "n": 5000, "inception_weights": None}
ADAM = {"lr": 2e-4, "betas": [0.5, 0.999]}


@dataclass(frozen=True)
class Schema:
    """Defaults, component sections (section -> "module:REGISTRY") and the builder of the
    run's parts ("module:function", config -> parts) of one run kind."""

    kind: str
    description: str
    defaults: dict[str, Any]
    sections: dict[str, str]
    builder: str

    def registries(self) -> dict[str, Registry]:
        """Section -> registry (imported on first use: registering happens at import time)."""
        out = {}
        for section, where in self.sections.items():
            module, attr = where.split(":")
            out[section] = getattr(importlib.import_module(module), attr)
        return out

    def fresh_defaults(self) -> dict[str, Any]:
        return copy.deepcopy(self.defaults)

    def build_parts(self, config: dict[str, Any]) -> Any:
        module, function = self.builder.split(":")
        return getattr(importlib.import_module(module), function)(config)


GAN = Schema(
    kind="gan",
    description="one generator against one discriminator (conditional when they take labels)",
    defaults={
        "kind": "gan",
        "seed": 0,
        "device": "auto",
        "data": {"name": "ring8"},
        "prior": {"name": "gaussian", "dim": 2},
        "generator": {"name": "mlp"},
        "discriminator": {"name": "mlp"},
        "loss": {"name": "nonsaturating"},
        "penalty": {"name": "none"},
        "scheme": {"name": "alternating"},
        "schedule": {"name": "constant"},
        "optim": {"g": dict(ADAM), "d": dict(ADAM)},
        "train": dict(TRAIN_DEFAULTS),
        "eval": dict(EVAL_DEFAULTS),
    },
    sections={
        "data": "ganscape.data:DATASETS",
        "prior": "ganscape.priors:PRIORS",
        "generator": "ganscape.models:GENERATORS",
        "discriminator": "ganscape.models:DISCRIMINATORS",
        "loss": "ganscape.losses:OBJECTIVES",
        "penalty": "ganscape.penalties:PENALTIES",
        "scheme": "ganscape.training.schemes:SCHEMES",
        "schedule": "ganscape.training.schedules:SCHEDULES",
    },
    builder="ganscape.training.gan_parts:build_gan_parts",
)

TRANSLATION = Schema(
    kind="translation",
    description="unpaired image-to-image translation (CycleGAN): data -> data_b and back",
    defaults={
        "kind": "translation",
        "seed": 0,
        "device": "auto",
        "data": {"name": "digits", "size": 16},
        "data_b": {"name": "digits", "size": 16, "invert": True},
        "generator": {"name": "resnet"},
        "discriminator": {"name": "patchgan"},
        "loss": {"name": "cyclegan"},
        "schedule": {"name": "constant"},
        "optim": {"g": dict(ADAM), "d": dict(ADAM)},
        "train": {**TRAIN_DEFAULTS, "batch_size": 1},
        "eval": dict(EVAL_DEFAULTS),
    },
    sections={
        "data": "ganscape.data:DATASETS",
        "data_b": "ganscape.data:DATASETS",
        "generator": "ganscape.translation:TRANSLATORS",
        "discriminator": "ganscape.translation:PATCH_CRITICS",
        "loss": "ganscape.translation:TRANSLATION_OBJECTIVES",
        "schedule": "ganscape.training.schedules:SCHEDULES",
    },
    builder="ganscape.translation.parts:build_translation_parts",
)

SCHEMAS = {schema.kind: schema for schema in (GAN, TRANSLATION)}


def schema_for(kind: Any) -> Schema:
    if kind not in SCHEMAS:
        raise ConfigError(f"kind: unknown run kind {kind!r}; valid: {', '.join(SCHEMAS)}")
    return SCHEMAS[kind]
