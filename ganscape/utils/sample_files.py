"""Samples as files other tools read, written as they are generated (50k samples at 128 px never sit in memory):

- ``samples.npz``: one array ``arr_0``, uint8 (N, H, W, C) for images (float32 (N, D) for vectors) — what
  ``np.savez(path, samples)`` writes and the usual sample-batch readers (pytorch-fid, torch-fidelity, clean-fid
  and the ADM evaluator, after loading) take; written straight into the zip, then moved into place;
- ``DIR/``: one PNG per sample, ``000000.png`` ...; written into a temporary folder beside DIR, renamed at the end.
Either way an interrupted export leaves nothing half-written."""
from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from PIL import Image

from ganscape.registry import ConfigError
from ganscape.utils.images import to_uint8
from ganscape.utils.io import atomic_path, check_writable, current_umask, first_missing, remove_empty_folders


def as_rows(chunk: torch.Tensor) -> np.ndarray:
    """Images (B, C, H, W) in [-1, 1] -> uint8 (B, H, W, C); vectors (B, D) -> float32."""
    return to_uint8(chunk) if chunk.ndim == 4 else chunk.detach().float().cpu().numpy()


def write_npz(chunks: Iterable[torch.Tensor], n: int, shape: tuple[int, ...], path: str | Path) -> None:
    """Stream ``n`` samples of ``shape`` (C, H, W) or (D,) into ``path`` as ``arr_0``."""
    row = (shape[1], shape[2], shape[0]) if len(shape) == 3 else tuple(shape)
    dtype = np.dtype(np.uint8 if len(shape) == 3 else np.float32)
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (n, *row)}
    written = 0
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        with archive.open("arr_0.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            for chunk in chunks:
                rows = as_rows(chunk)
                member.write(rows.astype(dtype, copy=False).tobytes())
                written += len(rows)
        if written != n:
            raise RuntimeError(f"expected {n} samples, the sampler gave {written}")


def write_png_folder(chunks: Iterable[torch.Tensor], n: int, folder: str | Path,
                     names: list[str] | None = None) -> None:
    """Stream ``n`` images into ``folder`` (new or empty) as ``000000.png`` ... (or ``names[i].png``)."""
    folder = Path(folder)
    made = first_missing(folder.parent)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        index = 0
        for chunk in chunks:
            if chunk.ndim != 4:
                raise ConfigError("--out: a folder of PNGs needs image samples; use samples.npz for vectors")
            for image in as_rows(chunk):
                name = names[index] if names else f"{index:06d}"
                Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(tmp / f"{name}.png")
                index += 1
        os.chmod(tmp, 0o777 & ~current_umask())
        if folder.exists():
            folder.rmdir()  # checked empty before sampling started
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        remove_empty_folders(folder.parent, made)
        raise


def output_kind(text: str) -> str:
    """``folder`` (``DIR/`` or an existing folder), ``npz`` or ``png``, from an ``--out`` value; else ConfigError."""
    path = Path(text)
    if text.endswith(("/", os.sep)) or path.is_dir():
        return "folder"
    if path.suffix.lower() in (".png", ".npz"):
        return path.suffix.lower()[1:]
    raise ConfigError(f"--out: {text!r}: expected a .png grid, a .npz file or a folder DIR/")


def check_new_folder(text: str) -> str:
    """``--out`` folder of PNGs: new or empty, writable (checked before any work)."""
    path = Path(text)
    if path.is_symlink():  # replaced by the finished folder at the end, which a link cannot be
        raise ConfigError(f"--out: {path} is a symbolic link; name a real new or empty folder (e.g. the link's "
                          f"target, {path.resolve()})")
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out: {path} exists and is not a folder; name a new or empty folder")
    if path.is_dir() and any(path.iterdir()):
        raise ConfigError(f"--out: {path} is a folder that is not empty; name a new or empty folder")
    try:
        check_writable(path / ".probe")
    except ConfigError:
        raise ConfigError(f"{path}: cannot write there") from None  # the folder the user named, not the probe
    return text


def check_output(text: str) -> str:
    """``--out`` of ``sample``: a .png grid, a .npz file, or a folder (``DIR/``, new or empty), writable."""
    if output_kind(text) == "folder":
        return check_new_folder(text)
    check_writable(text)
    return text
