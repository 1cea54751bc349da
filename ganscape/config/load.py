"""Resolve a run config: kind defaults <- preset or YAML file (with ``base:`` chains) <- overrides.

    load_config("ring8", ["loss.name=hinge"])          # a preset and an override
    load_config("my_run.yaml")                         # a file, which may say `base: ring8`
    load_config({"base": "dcgan-digits", "train": {"steps": 500}})

A source may start from another with ``base: PRESET_OR_FILE`` (a relative file path is taken
from the folder of the file that names it); its own keys are merged over the base's. The
``description`` key documents a preset and is dropped. Configs of the pre-``kind`` CycleGAN
format (``data_a``, ``lambda_cycle``, ...) are converted on reading, so old run folders load.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from ganscape.config.dotted import apply_overrides, merge
from ganscape.config.schema import schema_for
from ganscape.config.validate import validate
from ganscape.config.yaml_io import parse_yaml, read_yaml
from ganscape.registry import ConfigError

PRESET_PACKAGE = "ganscape.presets"
MAX_BASE_DEPTH = 16


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(PRESET_PACKAGE).iterdir() if p.name.endswith(".yaml"))


def preset_text(name: str) -> str:
    return resources.files(PRESET_PACKAGE).joinpath(f"{name}.yaml").read_text()


def read_source(source: str, folder: Path | None = None, chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """A preset name or a YAML file path (relative to ``folder`` if given) -> its raw mapping,
    merged over its ``base:`` chain; ``chain`` holds the sources already being read."""
    path = Path(source).expanduser()
    if folder is not None and not path.is_absolute() and (folder / path).exists():
        path = folder / path
    if path.suffix in (".yaml", ".yml") or path.exists():
        where = str(path.resolve())
        _check_chain(source, where, chain)
        data, folder = read_yaml(path), path.parent
    elif source in preset_names():
        where = f"preset {source}"
        _check_chain(source, where, chain)
        data, folder = parse_yaml(preset_text(source), where), None
    else:
        raise ConfigError(f"unknown config {source!r}: not a file, and not a preset; presets: {', '.join(preset_names())}")
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a config must be a mapping of keys to values, got {type(data).__name__}")
    return resolve_base(upgrade_legacy(data), folder, (*chain, where))


def _check_chain(source: str, where: str, chain: tuple[str, ...]) -> None:
    if where in chain or len(chain) >= MAX_BASE_DEPTH:
        raise ConfigError(f"base: {source!r} leads to a cycle of bases ({' -> '.join((*chain, where))})")


def resolve_base(data: dict[str, Any], folder: Path | None, chain: tuple[str, ...]) -> dict[str, Any]:
    """Merge ``data`` over the source its ``base:`` names (recursively); drops ``description``."""
    data = {k: v for k, v in data.items() if k != "description"}
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base:
        raise ConfigError(f"base: expected a preset name or a YAML file path, got {base!r}")
    return merge(read_source(base, folder, chain), data)


def upgrade_legacy(data: dict[str, Any]) -> dict[str, Any]:
    """Convert configs of ganscape 0.1: ``eval.metrics: []`` (no evaluation) becomes the default
    set (evaluation stays off while ``eval.every`` is 0), and the pre-``kind`` CycleGAN format
    becomes a ``kind: translation`` config."""
    if isinstance(data.get("eval"), dict) and data["eval"].get("metrics") == []:
        data = {**data, "eval": {**data["eval"], "metrics": ["default"]}}
    if "data_a" not in data or "kind" in data:
        return data
    out = {k: v for k, v in data.items() if k not in ("data_a", "lambda_cycle", "lambda_identity", "pool_size", "optim")}
    out["kind"] = "translation"
    out["data"] = data["data_a"]
    loss = {"name": "cyclegan"}
    for key in ("lambda_cycle", "lambda_identity", "pool_size"):
        if key in data:
            loss[key] = data[key]
    out["loss"] = loss
    if "optim" in data:
        out["optim"] = {"g": dict(data["optim"]), "d": dict(data["optim"])}
    return out


def load_config(source: str | dict[str, Any] | None = None, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Resolve defaults + source (preset name, YAML path or mapping) + overrides, then validate."""
    if isinstance(source, dict):
        data = resolve_base(upgrade_legacy(dict(source)), None, ())
    elif source:
        data = read_source(source)
    else:
        data = {}
    data = apply_overrides(data, list(overrides))
    schema = schema_for(data.get("kind", "gan"))
    config = merge(schema.fresh_defaults(), data)
    validate(config)
    return config
