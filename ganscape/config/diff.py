"""Comparing configs: what changed between two, which changes a resumed run may make, a hash."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from ganscape.config.dotted import lookup

# Keys that may change when a run is resumed: the budget, and what is logged, saved or evaluated
# along the way (none of these changes the training trajectory).
RESUMABLE_CHANGES = ("train.steps", "train.log_every", "train.checkpoint_every", "train.sample_every",
                     "train.keep_checkpoints", "eval.every", "eval.metrics", "eval.n", "eval.inception_weights")


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
    """``key: old -> new`` for every change a resumed run may not make.

    ``train.steps`` may change only while the learning-rate schedule does not depend on it.
    """
    allowed = set(RESUMABLE_CHANGES)
    if new.get("schedule", {}).get("name", "constant") != "constant":
        allowed.discard("train.steps")
    return [f"{key}: {lookup(old, key)!r} -> {lookup(new, key)!r}"
            for key in config_diff(old, new) if key not in allowed]


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
