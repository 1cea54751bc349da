"""MNIST from the official IDX files, read locally; optional download with checksums."""
from __future__ import annotations

import gzip
import os
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ganscape.data.base import DATASETS, TensorDataset, resize_images
from ganscape.registry import ConfigError, Count, Positive
from ganscape.utils.io import file_digest

MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
# Official MD5 checksums of the gzipped IDX files.
FILES = {"train": (("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                   ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432")),
         "test": (("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                  ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"))}
COUNTS = {"train": 60_000, "test": 10_000}  # the official files' image counts; every image is 28 x 28
DEFAULT_ROOT = os.path.join("~", ".cache", "ganscape", "mnist")


def read_idx(path: Path) -> np.ndarray:
    """Parse a (optionally gzipped) IDX file into a numpy array of its declared shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    payload = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if payload.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} but holds {payload.size} values (truncated?)")
    return payload.reshape(dims)


def read_checked(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """``read_idx`` of an official file: its shape must be the official one (an uncompressed file, which has no
    published MD5, is checked this way; a .gz passed its MD5 already). ConfigError naming the file otherwise."""
    try:
        values = read_idx(path)
    except (OSError, EOFError, ValueError, zlib.error) as err:
        raise ConfigError(f"data.root: {path} is not a readable MNIST IDX file ({err})") from None
    if values.shape != shape:
        raise ConfigError(f"data.root: {path} holds an array of shape {values.shape}; the official file's is {shape}")
    return values


def download(filename: str, checksum: str, root: Path) -> Path:
    """Fetch one file from the mirrors into ``root`` and verify its MD5."""
    root.mkdir(parents=True, exist_ok=True)
    target = root / filename
    errors = []
    for mirror in MIRRORS:
        tmp = target.with_suffix(".part")
        try:
            with urllib.request.urlopen(mirror + filename, timeout=30) as resp, open(tmp, "wb") as out:
                out.write(resp.read())
        except (urllib.error.URLError, OSError) as err:
            errors.append(f"{mirror}: {err}")
            continue
        if file_digest(tmp, "md5") == checksum:
            os.replace(tmp, target)
            return target
        tmp.unlink()
        errors.append(f"{mirror}: checksum mismatch")
    raise ConfigError(f"data.root: could not download MNIST file {filename} (offline?). Tried: "
                      + "; ".join(errors) + f". Put the official IDX .gz files in {root} instead.")


def locate(filename: str, checksum: str, root: Path, fetch: bool) -> Path:
    """Find ``filename`` (gzipped or not) under ``root``; download it if allowed."""
    for candidate in (root / filename, root / filename[:-3]):
        if candidate.exists():
            if candidate.suffix == ".gz" and file_digest(candidate, "md5") != checksum:
                raise ConfigError(f"data.root: {candidate} fails its MD5 check (corrupt or not MNIST)")
            return candidate
    if fetch:
        return download(filename, checksum, root)
    raise ConfigError(f"data.root: MNIST file {filename} not found in {root}; "
                      "set data.root to a folder with the IDX files, or data.download=true")


@DATASETS.register("mnist", "MNIST from local IDX files (train 60k / test 10k), resized to `size`",
    citation='LeCun et al. 1998')
def mnist(root: str = DEFAULT_ROOT, split: Literal["train", "test"] = "train", size: Positive = 28,
          download: bool = False, limit: Count = 0, per_class: Count = 0, seed: int = 0):
    """MNIST digits in [-1, 1], (1, size, size).

    ``limit`` keeps the first N images; ``per_class`` keeps a seeded random N of each class (e.g. 50 for DeLiGAN's
    500-image low-data setting)."""
    if split not in FILES:
        raise ConfigError(f"data.split: unknown split {split!r}; valid: {', '.join(FILES)}")
    if per_class and limit:  # the first N of a class-by-class selection would be the first classes alone
        raise ConfigError(f"data.limit: {limit} with data.per_class: {per_class}; per_class keeps a class-balanced "
                          "selection, limit the first N images: give one of them")
    folder = Path(root).expanduser()
    (img_name, img_md5), (lbl_name, lbl_md5) = FILES[split]
    images = read_checked(locate(img_name, img_md5, folder, download), (COUNTS[split], 28, 28))
    labels = read_checked(locate(lbl_name, lbl_md5, folder, download), (COUNTS[split],))
    if labels.max() > 9:
        raise ConfigError(f"data.root: {folder / lbl_name[:-3]}(.gz) holds label {labels.max()}; MNIST's are 0-9")
    x = torch.from_numpy(images.copy()).float().div(255).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    if per_class:
        gen = torch.Generator().manual_seed(seed)
        keep = torch.cat([torch.nonzero(y == c).flatten()[torch.randperm(int((y == c).sum()), generator=gen)[:per_class]]
                          for c in range(10)])
        x, y = x[keep], y[keep]
    if limit:
        x, y = x[:limit], y[:limit]
    x = resize_images(x, size).clamp(0, 1)
    return TensorDataset("mnist", x * 2 - 1, y, num_classes=10)
