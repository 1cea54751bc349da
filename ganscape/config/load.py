"""Resolve a run config: kind defaults <- preset or YAML file (with ``base:`` chains) <- overrides.

    load_config("ring8", ["loss.name=hinge"])          # a preset and an override
    load_config("my_run.yaml")                         # a file, which may say `base: ring8`
    load_config({"base": "dcgan-digits", "train": {"steps": 500}})

A source may start from another with ``base: PRESET_OR_FILE`` (a relative path is taken from the folder of the file
that names it); its own keys are merged over the base's. ``description`` documents a preset and is dropped. Configs of
ganscape 0.1 are converted on reading (``upgrade_legacy``), so old run folders load."""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from ganscape.config.dotted import apply_overrides, merge
from ganscape.config.schema import schema_for
from ganscape.config.validate import validate
from ganscape.config.yaml_io import parse_yaml, read_yaml
from ganscape.registry import ConfigError

MAX_BASE_DEPTH = 16


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("ganscape.presets").iterdir() if p.name.endswith(".yaml"))


def preset_text(name: str) -> str:
    return resources.files("ganscape.presets").joinpath(f"{name}.yaml").read_text(encoding="utf-8")


def read_source(source: str, folder: Path | None = None, chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """A preset name or a YAML file path (relative to ``folder`` if given) -> its mapping merged
    over its ``base:`` chain; ``chain`` holds the sources already being read (cycles are errors)."""
    path = Path(source).expanduser()
    if folder is not None and not path.is_absolute() and (folder / path).exists():
        path = folder / path
    is_file = path.suffix in (".yaml", ".yml") or path.is_file()  # a folder named ring8 (a run) is not a config
    if not is_file and source not in preset_names():
        raise ConfigError(f"unknown config {source!r}: not a file, and not a preset; presets: {', '.join(preset_names())}")
    where = str(path.resolve()) if is_file else f"preset {source}"
    if where in chain or len(chain) >= MAX_BASE_DEPTH:
        raise ConfigError(f"base: {source!r} leads to a cycle of bases ({' -> '.join((*chain, where))})")
    data = read_yaml(path) if is_file else parse_yaml(preset_text(source), where)
    if not isinstance(data, (dict, type(None))):
        raise ConfigError(f"{source}: a config must be a mapping of keys to values, got {type(data).__name__}")
    if data is None and is_file:  # an empty (or cut-short) file trained the defaults without a word
        raise ConfigError(f"{source}: an empty config file; give at least `base: PRESET` (e.g. base: ring8), or the "
                          "preset's name itself")
    return resolve_base(upgrade_legacy(data or {}), path.parent if is_file else None, (*chain, where))


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
    set (evaluation stays off while ``eval.every`` is 0), and the CycleGAN format (``data_a``,
    top-level ``lambda_cycle``, ``lambda_identity``, ``pool_size``, one ``optim``) ``kind: translation``."""
    if isinstance(data.get("eval"), dict) and data["eval"].get("metrics") == []:
        data = {**data, "eval": {**data["eval"], "metrics": ["default"]}}
    if "data_a" not in data or "kind" in data:
        return data
    moved = ("data_a", "lambda_cycle", "lambda_identity", "pool_size", "optim")
    out = {k: v for k, v in data.items() if k not in moved}
    out.update(kind="translation", data=data["data_a"],
               loss={"name": "cyclegan", **{k: data[k] for k in moved[1:4] if k in data}})
    if "optim" in data:
        out["optim"] = {"g": dict(data["optim"]), "d": dict(data["optim"])}
    return out


def plain(tree: Any) -> Any:
    """A copy of a config given as a Python mapping with tuples as lists, as its config.yaml will read back: the
    same config, resumed from its run folder, must compare equal."""
    if isinstance(tree, dict):
        return {k: plain(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [plain(v) for v in tree]
    return tree


def load_config(source: str | dict[str, Any] | None = None, overrides: list[str] | tuple[str, ...] = (),
                ranks: int = 1) -> dict[str, Any]:
    """Resolve defaults + source (preset name, YAML path or mapping) + overrides, then validate (for ``ranks``
    training processes: ``validate``)."""
    if isinstance(source, dict):
        data = resolve_base(upgrade_legacy(plain(source)), None, ())
    else:
        if source is not None and not str(source).strip():  # "" from a script's empty variable: not the defaults
            raise ConfigError("config: an empty name; give a preset (ganscape presets), a YAML file or a mapping")
        data = read_source(source) if source is not None else {}
    data = apply_overrides(data, list(overrides))
    config = merge(schema_for(data.get("kind", "gan")).fresh_defaults(), data)
    validate(config, ranks)
    return config
