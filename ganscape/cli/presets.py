"""``ganscape presets``: list the built-in configs."""
from __future__ import annotations

import yaml
from importlib import resources

from ganscape.config import preset_names


def register(sub) -> None:
    p = sub.add_parser("presets", help="list built-in presets")
    p.set_defaults(func=run)


def run(args) -> int:
    for name in preset_names():
        text = resources.files("ganscape.presets").joinpath(f"{name}.yaml").read_text()
        description = (yaml.safe_load(text) or {}).get("description", "")
        print(f"{name:24s} {description}")
    return 0
