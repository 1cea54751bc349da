"""Writing a prepared dataset into the data root: streamed uint8 arrays, a manifest, published atomically.

Layout (``ganscape.paths.data_root()``, else ``--root``)::

    ROOT/NAME/SIZEpx/manifest.json          what was prepared, from which source (file and hash), how
    ROOT/NAME/SIZEpx/SPLIT.npy              images, uint8 (N, H, W, C), memory-mappable
    ROOT/NAME/SIZEpx/SPLIT_labels.npy       int64 (N,) class ids, when the source has classes
    ROOT/NAME/SIZEpx/SPLIT_attributes.npy   uint8 (N, K) 0/1 attributes, when the source has them

Everything is written into a hidden temporary folder beside the final one and renamed into place only when
complete, so the data root never holds half a dataset; each split's ``request`` (preparer, source path, kind and sha256,
options) makes preparing the same source again a no-op. A source that holds all of a dataset's splits (CIFAR,
CelebA, a folder, a whole Hugging Face dataset) replaces them all; one that holds one split (an LSUN lmdb folder,
one ``--split`` of a Hugging Face dataset) replaces that split and keeps the others.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ganscape.registry import ConfigError
from ganscape.utils.io import (atomic_write_text, current_umask, file_digest, first_missing, folder_lock,
                               remove_empty_folders)

MANIFEST, FORMAT = "manifest.json", "ganscape-prepared-data"
MAX_ROWS = 10**15  # the row count the header first makes room for (its digits); far more than any dataset
log = logging.getLogger("ganscape.data.prepare")


def dataset_folder(root: Path, name: str, size: int) -> Path:
    return root / name / f"{size}px"


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if manifest.get("format") == FORMAT else None


UNTRACKED = {"lock.mdb"}  # lmdb's lock file: rewritten whenever any program opens the database, data unchanged


def source_fingerprint(path: Path) -> str:
    """sha256 of a source file; of a folder, of its files' relative paths, sizes and modification times (except
    ``UNTRACKED`` files, which change without the data changing)."""
    if path.is_file():
        return file_digest(path)
    listing = sorted((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns)
                     for p in path.rglob("*") if p.is_file() and p.name not in UNTRACKED)
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


class ArrayWriter:
    """Streams uint8 rows of one shape into ``PATH.npy`` in place, so a split never has to fit in memory (nor twice
    on disk) and its length need not be known in advance: the header is written first with room for any row count,
    and rewritten with the real count on ``close``."""

    def __init__(self, path: Path, row_shape: tuple[int, ...], dtype=np.uint8):
        self.path, self.row_shape, self.dtype, self.count = path, tuple(row_shape), np.dtype(dtype), 0
        self.file = open(path, "wb")
        room = self.header(MAX_ROWS)
        self.header_size = len(room)
        self.file.write(room)

    def header(self, rows: int, size: int | None = None) -> bytes:
        """The .npy (version 1.0) header for ``rows`` rows: magic, version, header length and the header dict,
        padded with spaces to ``size`` bytes in all (default: the next multiple of 64, as NumPy aligns it)."""
        text = repr({"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                     "shape": (rows, *self.row_shape)}).encode("latin1")
        size = size or -(-(len(text) + 11) // 64) * 64  # 10 bytes before the dict, one newline after it
        return b"\x93NUMPY\x01\x00" + (size - 10).to_bytes(2, "little") + text.ljust(size - 11) + b"\n"

    def append(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.row_shape:
            raise ValueError(f"rows of shape {rows.shape[1:]} in an array of rows {self.row_shape}")
        self.file.write(rows.tobytes())
        self.count += len(rows)

    def close(self) -> int:
        """Write the real row count into the header (synced to disk); returns the number of rows."""
        self.file.seek(0)
        self.file.write(self.header(self.count, self.header_size))
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        return self.count


class PreparedWriter:
    """One preparation: ``split(name)`` gives writers for a split's images, labels and attributes; ``publish``
    writes the manifest and moves the folder into place. Use as a context manager: an error removes it all."""

    def __init__(self, root: Path, name: str, size: int, keep_other_splits: bool = False):
        self.final, self.keep_other_splits = dataset_folder(root, name, size), keep_other_splits
        self.made = first_missing(self.final.parent)  # what a failed first preparation removes again, if unused
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.lock = folder_lock(self.final.parent, busy="another process is preparing this dataset right now; "
                                "wait for it, or prepare under another --name or --root")  # one at a time
        self.lock.__enter__()
        for stale in self.final.parent.glob(f".{size}px.*"):  # left by a killed preparation
            shutil.rmtree(stale, ignore_errors=True)
        self.folder = Path(tempfile.mkdtemp(prefix=f".{size}px.", suffix=".tmp", dir=self.final.parent))
        self.splits: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> "PreparedWriter":
        return self

    def __exit__(self, kind, error, trace) -> None:
        for parts in self.splits.values():
            if "images" in parts:
                parts["images"].file.close()
        shutil.rmtree(self.folder, ignore_errors=True)  # a published folder was moved away already
        if error is not None:
            self.remove_unused_folders()
        self.lock.__exit__(None, None, None)

    def remove_unused_folders(self) -> None:
        """After a failed first preparation of this dataset: its folder and the folders made for it, each only while
        it holds nothing else (another dataset may have been prepared in the root meanwhile). The lock file goes
        first, while still held: a preparer that opened it before is refused as busy, one that comes after makes a
        new one."""
        folder = self.final.parent
        if self.made is None or any(p.name != ".lock" for p in folder.iterdir()):
            return
        (folder / ".lock").unlink(missing_ok=True)
        remove_empty_folders(folder, self.made)

    def images(self, split: str, row_shape: tuple[int, ...]) -> ArrayWriter:
        parts = self.splits.setdefault(split, {})
        if "images" not in parts:
            parts["images"] = ArrayWriter(self.folder / f"{split}.npy", row_shape)
        return parts["images"]

    def extend(self, split: str, kind: str, values: Iterable) -> None:
        """Per-split rows kept in memory until ``publish``: ``labels`` (int64 class ids) or ``attributes`` (uint8
        0/1 vectors). They must end up one per image."""
        self.splits.setdefault(split, {}).setdefault(kind, []).extend(values)

    def publish(self, manifest: dict[str, Any]) -> Path:
        """Finish every split, write the manifest, and replace the dataset's folder with the new one."""
        if not self.splits:
            raise ConfigError("--from: no usable image in the source (nothing to prepare)")
        splits = {}
        for split, parts in self.splits.items():
            count = parts["images"].close()
            if count == 0:
                raise ConfigError(f"--from: no usable image for split {split!r}")
            for kind, dtype in (("labels", np.int64), ("attributes", np.uint8)):
                if kind in parts:
                    values = np.asarray(parts[kind], dtype=dtype)
                    if len(values) != count:
                        raise ValueError(f"{split}: {len(values)} {kind} for {count} images")
                    np.save(self.folder / f"{split}_{kind}.npy", values)
            splits[split] = {"n": count, "shape": list(parts["images"].row_shape),
                             "labels": "labels" in parts, "attributes": "attributes" in parts,
                             "sha256": file_digest(self.folder / f"{split}.npy")}
        for record in splits.values():
            record.update(request=manifest.get("request"), prepared_with=sorted(splits))
        if self.keep_other_splits:
            splits.update(self.carry_over(splits, manifest))
        manifest = {"format": FORMAT, "version": 1, **manifest, "splits": splits, "prepared": time.time()}
        atomic_write_text(self.folder / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
        os.chmod(self.folder, 0o777 & ~current_umask())  # mkdtemp makes 0700; the data root may be shared
        old = self.final.with_name(f".{self.final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if self.final.exists():
            os.replace(self.final, old)
        os.replace(self.folder, self.final)
        shutil.rmtree(old, ignore_errors=True)
        return self.final

    def carry_over(self, written: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
        """The split records of the dataset's present folder that this preparation does not rewrite, their files
        hard-linked into the new folder: preparing LSUN's ``val`` lmdb keeps the ``train`` split prepared before.
        A split whose labels or attributes would change meaning (other class or attribute names) is dropped, with a
        warning naming it."""
        present = read_manifest(self.final) or {}
        kept = {}
        for split, record in present.get("splits", {}).items():
            if split in written:
                continue
            changed = [key for key, kind in (("class_names", "labels"), ("attribute_names", "attributes"))
                       if record.get(kind) and present.get(key) != manifest.get(key)]
            if changed:
                log.warning("warning: dropped split %r of %s, prepared before from %s: its %s differ from this "
                            "source's; prepare it again", split, self.final, source_path(record, present),
                            " and ".join(changed))
                continue
            damage = split_damage(self.final, split, record)
            if damage is not None:
                log.warning("warning: dropped split %r of %s (%s); prepare it again from %s", split, self.final,
                            damage, source_path(record, present))
                continue
            for suffix in ("", "_labels", "_attributes"):
                name = f"{split}{suffix}.npy"
                if (self.final / name).is_file():
                    link_or_copy(self.final / name, self.folder / name)
            kept[split] = record
        return kept


def source_path(record: dict[str, Any], manifest: dict[str, Any]) -> str:
    request = record.get("request") or manifest.get("request") or {}
    return str(request.get("source", {}).get("path", "an unknown source"))


def link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copy2(source, target)


def load_array(path: Path, mmap: bool = False) -> np.ndarray:
    """``np.load`` of a prepared array; a missing or damaged file is a ConfigError that says to prepare again."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ConfigError(f"data: cannot read {path} ({reason}); prepare the dataset again") from None


def split_images(folder: Path, split: str, record: dict[str, Any]) -> np.ndarray:
    """The memory-mapped images of one prepared split, checked against its manifest ``record``; ConfigError (prepare
    it again) when the file is missing, damaged or of another shape."""
    path = folder / f"{split}.npy"
    images = load_array(path, mmap=True)
    if images.shape != (record["n"], *record["shape"]) or images.dtype != np.uint8:
        raise ConfigError(f"data: {path} does not match its manifest (shape {images.shape}); prepare it again")
    return images


def split_damage(folder: Path, split: str, record: dict[str, Any]) -> str | None:
    """Why split ``split`` cannot be read as ``record`` says (a file deleted, truncated or replaced), or None.
    Checks shapes and lengths, not hashes: it runs before every no-op preparation."""
    try:
        split_images(folder, split, record)
        for kind in ("labels", "attributes"):
            if record.get(kind) and len(load_array(folder / f"{split}_{kind}.npy", mmap=True)) != record["n"]:
                return f"{folder / f'{split}_{kind}.npy'} does not hold {record['n']} rows"
    except ConfigError as err:
        return str(err)
    return None


def damaged_split(folder: Path, manifest: dict[str, Any], splits: Iterable[str]) -> str | None:
    """Why one of ``splits`` of the manifest cannot be read as recorded, or None."""
    records = manifest.get("splits", {})
    return next(filter(None, (split_damage(folder, s, records[s]) for s in splits if s in records)), None)


def first_version(manifest: dict[str, Any]) -> bool:
    """A version-1 manifest: one request (the manifest's own) wrote every split."""
    return all("request" not in record for record in manifest.get("splits", {}).values())


def splits_of(manifest: dict[str, Any], request: dict[str, Any]) -> list[str]:
    """The manifest's splits that a preparation with ``request`` (the same source content and options) wrote."""
    wanted, splits = same_source(request), manifest.get("splits", {})
    if first_version(manifest):
        return list(splits) if same_source(manifest.get("request")) == wanted else []
    return [split for split, record in splits.items() if same_source(record.get("request")) == wanted]


def same_source(request: dict[str, Any] | None) -> Any:
    """What makes two preparation requests the same: preparer, options and the source's content (its SHA-256, and
    its companion files'), not where the files lie; a hub source (no SHA-256) by its name."""
    if not request:
        return request
    source = dict(request.get("source") or {})
    if source.get("sha256") is not None:
        source.pop("path", None)
        source["companions"] = sorted((source.get("companions") or {}).values())
    return {**request, "source": source}


def already_prepared(manifest: dict[str, Any] | None, request: dict[str, Any]) -> bool:
    """Whether ``manifest`` holds every split a preparation with ``request`` wrote (from the same source content,
    wherever it lies now), still as it wrote them."""
    if manifest is None:
        return False
    if first_version(manifest):
        return same_source(manifest.get("request")) == same_source(request)
    mine = splits_of(manifest, request)
    return bool(mine) and set(manifest["splits"][mine[0]].get("prepared_with", ())) <= set(mine)
