"""``ganscape presets``: list the built-in configs (every run kind) with their descriptions."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("presets", help="list built-in presets")
    p.set_defaults(func=run)


def run(args) -> int:
    from ganscape.config import parse_yaml, preset_names, preset_text, read_source

    names = preset_names()
    width = max(map(len, names), default=0)
    for name in names:
        description = (parse_yaml(preset_text(name), f"preset {name}") or {}).get("description", "")
        kind = read_source(name).get("kind", "gan")
        print(f"{name:{width}s} {kind:12s} {description}")
    return 0
