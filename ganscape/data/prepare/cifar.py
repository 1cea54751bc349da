"""CIFAR-10 and CIFAR-100 from the official archives (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html).

Both versions of each archive are read straight from the .tar.gz:

- binary (``cifar-10-binary.tar.gz``): records of label byte(s) then 3072 pixel bytes, the 1024 red, 1024 green and
  1024 blue values of a 32 x 32 image in row-major order. CIFAR-100 records carry two label bytes (coarse, fine).
- python (``cifar-10-python.tar.gz``): pickled dicts with ``data`` (N, 3072) uint8 in the same order and ``labels``
  (``fine_labels``/``coarse_labels`` for CIFAR-100), read with the restricted unpickler of ``unpickle``.

Splits ``train`` (50,000) and ``test`` (10,000), labels (CIFAR-100: the 100 fine classes), class names. An archive
whose MD5 is not the official one is used only when its structure is right, with a warning saying so."""
from __future__ import annotations

import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganscape.data.images import crop_resize
from ganscape.data.prepare.base import MAX_MEMBER_BYTES, PREPARERS, log, progress
from ganscape.data.prepare.store import PreparedWriter
from ganscape.data.prepare.unpickle import RefusedGlobal, safe_load
from ganscape.registry import ConfigError, Positive
from ganscape.utils.io import file_digest

PIXELS = 32 * 32 * 3


@dataclass(frozen=True)
class Layout:
    """Where one version of an archive keeps its batches, labels and class names."""

    folder: str                    # top folder inside the tarball
    splits: dict[str, tuple[str, ...]]
    md5: str                       # of the official archive
    label_bytes: int = 1           # binary: label bytes before each image; the last one is used
    label_key: str = "labels"      # python: key of the labels in each batch
    names_file: str = ""           # class names: a text file (binary) or a pickled dict (python) ...
    names_key: str = ""            # ... and its key


LAYOUTS = {
    "cifar10": {
        "binary": Layout("cifar-10-batches-bin", {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
                                                  "test": ("test_batch.bin",)},
                         "c32a1d4ab5d03f1284b67883e8d87530", names_file="batches.meta.txt"),
        "python": Layout("cifar-10-batches-py", {"train": tuple(f"data_batch_{i}" for i in range(1, 6)),
                                                 "test": ("test_batch",)},
                         "c58f30108f718f92721af3b95e74349a", names_file="batches.meta", names_key="label_names"),
    },
    "cifar100": {
        "binary": Layout("cifar-100-binary", {"train": ("train.bin",), "test": ("test.bin",)},
                         "03b5dce01913d631647c71ecec9e9cb8", label_bytes=2, names_file="fine_label_names.txt"),
        "python": Layout("cifar-100-python", {"train": ("train",), "test": ("test",)},
                         "eb9058c3a382ffc7106e4002c42a8d85", label_key="fine_labels", names_file="meta",
                         names_key="fine_label_names"),
    },
}
ARCHIVES = {"cifar10": "cifar-10-python.tar.gz or cifar-10-binary.tar.gz",
            "cifar100": "cifar-100-python.tar.gz or cifar-100-binary.tar.gz"}


def layout_files(dataset: str) -> set[str]:
    """The archive paths any layout of ``dataset`` reads: its batches and its class names file."""
    return {f"{layout.folder}/{name}" for layout in LAYOUTS[dataset].values()
            for name in (*(f for files in layout.splits.values() for f in files), layout.names_file)}


MAX_ARCHIVE_BYTES = 512 << 20  # the CIFAR files one layout reads (official: 178 MB for CIFAR-10, 184 MB CIFAR-100)


def read_members(path: Path, wanted: set[str]) -> tuple[dict[str, bytes], list[str]]:
    """(the regular files of a tarball named in ``wanted`` -> their bytes, the names of all its members). No other
    member is read: only those in the folder of the first ``wanted`` file met (one layout), none larger than any
    CIFAR file (MAX_MEMBER_BYTES) and at most MAX_ARCHIVE_BYTES in all, so a small tarball of many large members of
    zeros is not read into memory (3 MB of them took 3.4 GB). ConfigError for a truncated or non-tar file."""
    if not path.is_file():
        raise ConfigError(f"--from: expected an archive file, got a folder: {path}")
    members, names, folder, total = {}, [], None, 0
    try:
        with tarfile.open(path, "r:*") as tar:
            for m in tar:
                names.append(m.name.lstrip("./"))
                if not (m.isfile() and names[-1] in wanted and m.size <= MAX_MEMBER_BYTES):
                    continue
                folder = folder or names[-1].split("/")[0]
                if names[-1].split("/")[0] != folder:  # another layout's file, beside the one being read
                    continue
                total += m.size
                if total > MAX_ARCHIVE_BYTES:
                    raise ConfigError(f"--from: {path} holds more than {MAX_ARCHIVE_BYTES >> 20} MB of {folder} "
                                      "files; an official archive holds under 200 MB")
                members[names[-1]] = tar.extractfile(m).read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        reason = str(err).splitlines()[0].rstrip(":") if str(err) else type(err).__name__  # tarfile lists every codec
        raise ConfigError(f"--from: {path} is truncated or not a tar archive ({reason})") from None
    return members, names


def find_layout(dataset: str, names: list[str], path: Path) -> tuple[str, Layout]:
    """The layout whose folder the archive's member ``names`` hold."""
    for version, layout in LAYOUTS[dataset].items():
        if any(name.startswith(layout.folder + "/") for name in names):
            return version, layout
    tops = sorted({name.split("/")[0] for name in names})[:3]
    raise ConfigError(f"--from: {path} is not a {dataset} archive ({ARCHIVES[dataset]}): it has no "
                      f"{' or '.join(l.folder for l in LAYOUTS[dataset].values())} folder; it holds "
                      f"{', '.join(tops) or 'no files'}")


def member(members: dict[str, bytes], layout: Layout, name: str, path: Path) -> bytes:
    key = f"{layout.folder}/{name}"
    if key not in members:
        raise ConfigError(f"--from: {path} lacks {key}; is it complete?")
    return members[key]


def read_binary(data: bytes, layout: Layout, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Binary records -> (rows (N, 3072) uint8, labels (N,) int64)."""
    record = layout.label_bytes + PIXELS
    if not data or len(data) % record:
        raise ConfigError(f"--from: {where} holds {len(data)} bytes, not a whole number of {record}-byte records")
    records = np.frombuffer(data, np.uint8).reshape(-1, record)
    return records[:, layout.label_bytes:], records[:, layout.label_bytes - 1].astype(np.int64)


def unpickle(data: bytes, where: str) -> dict[str, Any]:
    """A python-version pickle -> dict with str keys; refuses any global a CIFAR file does not contain."""
    try:
        value = safe_load(data)
    except RefusedGlobal as err:
        raise ConfigError(f"--from: {where} is not a CIFAR batch: its pickle refers to {err.name}, which a CIFAR "
                          "file never contains; refusing to load it (nothing was run)") from None
    except pickle.UnpicklingError as err:
        raise ConfigError(f"--from: {where} is not a readable CIFAR batch ({err})") from None
    if not isinstance(value, dict):
        raise ConfigError(f"--from: {where} holds a {type(value).__name__}, not a CIFAR batch dict")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in value.items()}


def read_python(data: bytes, layout: Layout, where: str) -> tuple[np.ndarray, np.ndarray]:
    batch = unpickle(data, where)
    rows, labels = batch.get("data"), batch.get(layout.label_key)
    if not (isinstance(rows, np.ndarray) and rows.dtype == np.uint8 and rows.ndim == 2 and rows.shape[1] == PIXELS):
        raise ConfigError(f"--from: {where}: 'data' is not an (N, {PIXELS}) uint8 array")
    labels = [] if labels is None else labels
    if not (isinstance(labels, list) and len(labels) == len(rows) and all(type(v) is int for v in labels)):
        # checked before any array is made: nested lists that share one object (the pickle memo) are a few bytes
        # in the file and gigabytes as an array
        count = len(labels) if isinstance(labels, (list, tuple)) else type(labels).__name__
        raise ConfigError(f"--from: {where}: {layout.label_key!r} is not a list of {len(rows)} integer labels "
                          f"(got {count})")
    huge = next((v for v in labels if not 0 <= v < 2**31), None)
    if huge is not None:
        raise ConfigError(f"--from: {where}: label {huge} is not a class id (CIFAR's are 0..99)")
    return rows, np.asarray(labels, dtype=np.int64)


def class_names(members: dict[str, bytes], version: str, layout: Layout, path: Path) -> list[str]:
    data = member(members, layout, layout.names_file, path)
    if version == "binary":
        return [line.strip() for line in data.decode("latin1").splitlines() if line.strip()]
    names = unpickle(data, f"{path}:{layout.names_file}").get(layout.names_key, [])
    return [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]


def to_images(rows: np.ndarray, size: int) -> np.ndarray:
    """(N, 3072) planar rows -> uint8 (N, size, size, 3)."""
    images = rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    if size == 32:
        return images
    from PIL import Image

    return np.stack([crop_resize(Image.fromarray(img), size, 3) for img in images])


def prepare_cifar(dataset: str, source: Path, out: PreparedWriter, size: int) -> dict[str, Any]:
    members, member_names = read_members(source, layout_files(dataset))
    version, layout = find_layout(dataset, list(members) or member_names, source)  # the layout that was read
    names = class_names(members, version, layout, source)
    reader = read_binary if version == "binary" else read_python
    for split, files in layout.splits.items():
        with progress(None, split) as bar:
            for name in files:
                rows, labels = reader(member(members, layout, name, source), layout, f"{source}:{layout.folder}/{name}")
                if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
                    raise ConfigError(f"--from: {source}:{name}: labels outside 0..{len(names) - 1}")
                out.images(split, (size, size, 3)).append(to_images(rows, size))
                out.extend(split, "labels", labels)
                bar.update(len(rows))
    official = file_digest(source, "md5") == layout.md5
    if not official:
        log.warning("warning: %s is not the official %s archive (MD5 differs from %s); its structure is valid, "
                    "so it is used", source, dataset, layout.md5)
    return {"class_names": names, "archive": {"version": version, "official": official},
            "preprocessing": "as stored (32 x 32)" if size == 32 else f"bicubic resize 32 -> {size}"}


@PREPARERS.register("cifar10", "CIFAR-10 from cifar-10-python.tar.gz or cifar-10-binary.tar.gz",
                    citation="Krizhevsky 2009")
def cifar10(source: Path, out: PreparedWriter, size: Positive = 32):
    return prepare_cifar("cifar10", source, out, size)


@PREPARERS.register("cifar100", "CIFAR-100 (fine labels) from cifar-100-python.tar.gz or cifar-100-binary.tar.gz",
                    citation="Krizhevsky 2009")
def cifar100(source: Path, out: PreparedWriter, size: Positive = 32):
    return prepare_cifar("cifar100", source, out, size)
