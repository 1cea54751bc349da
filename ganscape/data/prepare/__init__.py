"""``ganscape data prepare NAME --from PATH``: turn the files users download into uint8 arrays, once.

Preparers (registered in ``PREPARERS``): ``cifar10``, ``cifar100``, ``celeba``, ``lsun``, ``folder``, ``hf``. Each
writes ``ROOT/NAME/SIZEpx/`` (see ``store``) atomically; preparing the same source with the same options again
is a no-op. Training reads the result with ``data: {name: cifar10}`` and so on (``ganscape.data.prepared``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ganscape.data.prepare import celeba, cifar, folder, hf, lsun  # noqa: F401  (registers the preparers)
from ganscape.data.prepare.base import PREPARERS, log
from ganscape.data.prepare.store import (PreparedWriter, already_prepared, damaged_split, dataset_folder,
                                         read_manifest, source_fingerprint, source_path, split_damage, splits_of)
from ganscape.paths import data_root
from ganscape.registry import ConfigError, check_option
from ganscape.utils.io import FULL_STORAGE


MAX_SIZE = 4096  # px: StyleGAN's largest faces are 1024; a 4096 px RGB image alone is 48 MB


def resolve_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """The preparer's full options (defaults filled in); unknown or badly typed ones are a ConfigError naming the
    command-line flag."""
    entry = PREPARERS.get(name, key="NAME")
    given = {k: v for k, v in options.items() if v is not None}
    known = entry.options(PREPARERS.context_args)
    for key in given:
        if key not in known:
            valid = ", ".join("--" + k.replace("_", "-") for k in known) or "(none)"
            raise ConfigError(f"--{key.replace('_', '-')}: not an option of {name}; its options: {valid}")
        check_option(f"--{key.replace('_', '-')}", given[key], known[key], entry.factory)
    resolved = {k: given.get(k, p.default) for k, p in known.items()}
    if resolved.get("size", 0) > MAX_SIZE:
        raise ConfigError(f"--size: {resolved['size']} px; at most {MAX_SIZE} (a split of such images would not fit "
                          "in memory)")
    return resolved


def source_record(name: str, source: Path | str) -> dict[str, Any]:
    """{path, kind, sha256} of the source (and of companion files such as CelebA's annotations)."""
    entry = PREPARERS.get(name)
    path = Path(source).expanduser()
    if not path.exists():
        if entry.meta.get("hub") and not str(source).startswith((".", "/", "~")):
            return {"path": str(source), "kind": "hub", "sha256": None}
        raise ConfigError(f"--from: not found: {path}")
    record = {"path": str(path.resolve()), "kind": "file" if path.is_file() else "folder",
              "sha256": source_fingerprint(path)}
    companions = entry.meta.get("companions")
    if companions:
        record["companions"] = {str(p): source_fingerprint(p) for p in companions(path)}
    return record


def prepare(name: str, source: str | Path, root: str | Path | None = None, dataset: str | None = None,
            **options: Any) -> tuple[Path, bool]:
    """Prepare ``source`` with preparer ``name`` into ``root`` (default ``data_root()``) under the name ``dataset``
    (default: the preparer's name, or one derived from the source). Returns (folder, whether anything was written)."""
    for option, value in (("--name", dataset), ("--root", root)):
        if value is not None and not str(value).strip():  # an empty shell variable: not the default
            raise ConfigError(f"{option}: empty; leave it out for the default")
    options = resolve_options(name, options)
    record = source_record(name, source)
    entry = PREPARERS.get(name)
    path = Path(record["path"]) if record["kind"] != "hub" else record["path"]
    dataset = dataset or (entry.meta["default_name"](Path(path)) if "default_name" in entry.meta else name)
    check_name(dataset)
    root = data_root(root)
    target = dataset_folder(root, dataset, options["size"])
    request = {"preparer": name, "source": record, "options": options}
    manifest = read_manifest(target)
    if already_prepared(manifest, request):
        mine = splits_of(manifest, request)
        damage = damaged_split(target, manifest, mine)
        if damage is None:
            log.debug("%s is already prepared from this source in %s; nothing to do", dataset, target)
            warn_other_damage(target, manifest, mine)
            return target, False
        log.warning("warning: %s; preparing %s again from this source", damage, ", ".join(mine))
    try:
        one_split = entry.meta.get("one_split", lambda options: False)(options)  # the source holds one split
        with PreparedWriter(root, dataset, options["size"], keep_other_splits=one_split) as out:
            facts = entry.factory(path, out, **options)
            published = out.publish({"name": dataset, "request": request, "citation": entry.citation, **facts})
    except OSError as err:
        # a write the file system refuses may name no file: --root's
        if err.errno in FULL_STORAGE or err.filename and Path(err.filename).resolve().is_relative_to(root.resolve()):
            raise ConfigError(f"--root: cannot write the prepared data under {root} ({err.strerror or err})") from None
        raise ConfigError(f"--from: cannot read {err.filename or source} ({err.strerror or err})") from None
    log.debug("prepared %s into %s", dataset, published)  # the CLI prints the folder
    return published, True


def warn_other_damage(target: Path, manifest: dict[str, Any], mine: list[str]) -> None:
    """A damaged split that another source wrote (LSUN's val beside this train lmdb) is not this source's to mend:
    say which, and from what to prepare it again."""
    for split, record in manifest.get("splits", {}).items():
        damage = None if split in mine else split_damage(target, split, record)
        if damage is not None:
            log.warning("warning: %s; prepare split %r again from its source (%s)", damage, split,
                        source_path(record, manifest))


def check_name(dataset: str) -> None:
    if not dataset or "/" in dataset or dataset.startswith(".") or not dataset.isprintable():
        raise ConfigError(f"--name: {dataset!r} cannot be a folder name; use letters, digits, - and _")


def describe(root: str | Path | None = None) -> list[dict[str, Any]]:
    """Every prepared dataset under the data root: name, size folder, splits and counts, each split's ``--limit``
    (None when it holds every image of its source), and the splits whose files are damaged (deleted, cut short)."""
    found = []
    for manifest_file in sorted(data_root(root).glob("*/*px/manifest.json")):
        manifest = read_manifest(manifest_file.parent)
        if manifest is not None and manifest.get("splits"):
            found.append({"name": manifest["name"], "folder": str(manifest_file.parent),
                          "splits": {k: v["n"] for k, v in manifest["splits"].items()},
                          "limits": {k: v.get("request", {}).get("options", {}).get("limit")
                                     for k, v in manifest["splits"].items()},
                          "damaged": [k for k, v in manifest["splits"].items()
                                      if split_damage(manifest_file.parent, k, v) is not None],
                          "shape": next(iter(manifest["splits"].values()))["shape"]})
    return found


__all__ = ["PREPARERS", "describe", "prepare"]
