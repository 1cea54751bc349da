"""Datasets from a NumPy .npz file and from a folder of images."""
from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ganscape.data.base import DATASETS, StreamingDataset, TensorDataset, resize_images
from ganscape.data.images import IMAGE_SUFFIXES, image_files, load_image
from ganscape.registry import ConfigError, Count, Positive

log = logging.getLogger(__name__)


def read_npz(file: Path, key: str, label_key: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The arrays ``key`` (samples) and ``label_key`` (optional labels) of an .npz file, checked: plain numbers (no
    pickled objects, strings or complex values), vectors (N, D) or images (N, H, W[, C]), at least one sample."""
    if not file.is_file():
        raise ConfigError(f"data.path: file not found: {file}")
    if not zipfile.is_zipfile(file):  # numpy's own message for it suggests unpickling the file
        raise ConfigError(f"data.path: {file} is not an .npz file (a zip archive of .npy arrays, as numpy.savez "
                          "writes)")
    try:
        with np.load(file, allow_pickle=False) as arrays:
            if key not in arrays:
                raise ConfigError(f"data.key: {key!r} not in {file}; arrays there: {', '.join(arrays.files)}")
            x, y = arrays[key], (arrays[label_key] if label_key in arrays else None)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ConfigError(f"data.path: {file} is not a readable .npz of plain arrays ({err})") from None
    if x.dtype.kind not in "biuf":
        raise ConfigError(f"data.path: {file}: array {key!r} holds {x.dtype} values; expected integers or floats")
    if x.ndim not in (2, 3, 4) or len(x) == 0 or x.size == 0:
        raise ConfigError(f"data.path: {file}: array {key!r} has shape {x.shape}; expected vectors (N, D) or images "
                          "(N, H, W[, C]) with N >= 1")
    if y is not None and (y.dtype.kind not in "iu" or y.shape != (len(x),)):
        raise ConfigError(f"data.label_key: {file}: labels {label_key!r} must be {len(x)} integers, got {y.dtype} "
                          f"{y.shape}")
    if y is not None:
        check_class_ids(y, f"data.label_key: {file}: {label_key!r}")
    return x, y


def check_class_ids(y: np.ndarray, where: str) -> None:
    """Labels (N,) must be class ids 0..K-1 with K = max + 1: a negative one is refused (it crashed the class
    embedding mid-step), as are more classes than samples (one stray huge id allocated an embedding of that many
    rows); classes without a sample (1-based labels leave class 0 empty) get a warning, as a conditional G draws
    every class 0..K-1."""
    low, high = int(y.min()), int(y.max())
    if low < 0:
        raise ConfigError(f"{where}: label {low} is negative; labels must be class ids 0..K-1")
    if high + 1 > len(y):
        raise ConfigError(f"{where}: label {high} makes {high + 1} classes for {len(y)} samples; labels must be class "
                          "ids 0..K-1")
    empty = np.setdiff1d(np.arange(high + 1), y)
    if len(empty):
        log.warning("warning: %s: %d of the classes 0..%d have no sample (%s%s); are the labels 1-based? A conditional "
                    "G draws every class", where, len(empty), high, ", ".join(map(str, empty[:5])),
                    ", ..." if len(empty) > 5 else "")


RANGE_SLACK = 1e-3  # float images may overshoot their range by rounding; more is a wrong range, not rounding


def images_to_tensor(arr: np.ndarray, value_range: str = "auto") -> torch.Tensor:
    """(N, H, W) or (N, H, W, C) or (N, C, H, W) array -> float (N, C, H, W) in [0, 1] (see ``unit_range``)."""
    x = torch.from_numpy(np.asarray(arr))
    if x.ndim == 3:
        x = x.unsqueeze(1)
    elif x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = x.permute(0, 3, 1, 2)
    return unit_range(x, value_range)


def unit_range(x: torch.Tensor, value_range: str) -> torch.Tensor:
    """Images -> float in [0, 1]. ``unit`` [0, 1] and ``signed`` [-1, 1] are clamped to their range. ``auto`` tells
    by the finite values: integers are 0/1 (binary) or 0..255; floats [0, 1], [-1, 1] (a negative value) or 0..255
    (a maximum above 2), within ``RANGE_SLACK``, and anything else is refused (floats in [-1, 1.02] were read as
    0..255 and scored garbage). NaN and inf stay, so a diverged generator's samples score NaN."""
    integer, x = not x.is_floating_point(), x.float()
    finite = integer or bool(torch.isfinite(x).all())
    values = x if finite else x[torch.isfinite(x)]
    low, high = (float(values.min()), float(values.max())) if values.numel() else (0.0, 1.0)
    if value_range == "auto":
        value_range = integer_range(low, high) if integer else auto_range(low, high)
    scaled = x if value_range == "unit" else (x + 1) / 2 if value_range == "signed" else x / 255.0
    return clamp_finite(scaled)


def clamp_finite(x: torch.Tensor) -> torch.Tensor:
    """``x`` clamped to [0, 1], its NaN and inf kept (a diverged generator's samples score NaN)."""
    return torch.where(torch.isfinite(x), x.clamp(0, 1), x)


def integer_range(low: float, high: float) -> str:
    """``unit`` for 0/1 (binary) integer images, ``byte`` for 0..255."""
    if low < 0 or high > 255:
        raise ConfigError(f"data.path: integer images must be 0..255, got {low:.0f}..{high:.0f}")
    return "unit" if high <= 1 else "byte"


def auto_range(low: float, high: float) -> str:
    """``unit``, ``signed`` or ``byte`` (0..255) for images whose finite values lie in [low, high]."""
    if low >= -RANGE_SLACK and high <= 1 + RANGE_SLACK:
        return "unit"
    if low >= -1 - RANGE_SLACK and high <= 1 + RANGE_SLACK:
        return "signed"
    if low >= -RANGE_SLACK and 2 < high <= 255 + RANGE_SLACK:
        return "byte"
    raise ConfigError(f"data.value_range: float images in [{low:.4g}, {high:.4g}] fit none of [0, 1], [-1, 1] or "
                      "0..255; set value_range (eval-images: --value-range) to unit or signed to clamp them to it")


LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as Pillow's convert("L"), which image_folder's channels: 1 uses


def convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Images (N, C, H, W), C in 1, 3, 4 -> ``channels`` (0 keeps C) as Pillow converts an image file: grey to
    colour repeats it, colour to grey is the luma (ITU-R 601-2), an alpha channel is dropped."""
    if channels in (0, x.shape[1]):
        return x
    rgb = x[:, :3] if x.shape[1] >= 3 else x.expand(-1, 3, -1, -1)
    if channels == 3:
        return rgb
    return (rgb * torch.tensor(LUMA, dtype=x.dtype).view(1, 3, 1, 1)).sum(1, keepdim=True)


@DATASETS.register("npz", "arrays from an .npz file: key `x` (images or vectors), optional `y`")
def npz(path: str, size: Count = 0, key: str = "x", label_key: str = "y",
        value_range: Literal["auto", "unit", "signed"] = "auto", channels: Literal[0, 1, 3] = 0):
    """Images (N,H,W[,C]) uint8 or float, or vectors (N,D). ``size`` resizes images (0 keeps); ``channels`` converts
    them to grey (1) or colour (3) as ``image_folder`` converts its files (0 keeps)."""
    x_np, y_np = read_npz(Path(path).expanduser(), key, label_key)
    y = None if y_np is None else torch.from_numpy(y_np.astype(np.int64))
    classes = int(y.max()) + 1 if y is not None else 0
    if x_np.ndim == 2:
        return TensorDataset("npz", torch.from_numpy(x_np).float(), y, classes)
    x = convert_channels(images_to_tensor(x_np, value_range), channels)
    if size:
        x = clamp_finite(resize_images(x, size))
    return TensorDataset("npz", x * 2 - 1, y, classes)


@DATASETS.register("image_folder", "images under a folder (sub-folders = classes), streamed or cached")
def image_folder(path: str, size: Positive = 64, channels: Literal[1, 3] = 3, labels: bool = False,
                 in_memory: bool | None = None):
    """``in_memory`` None loads folders of up to 20,000 images into memory, streams larger ones. In memory,
    unreadable (corrupt, truncated) images are skipped and counted in one warning; streamed, one is an error."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ConfigError(f"data.path: not a folder: {root}")
    files = image_files(root)
    if not files:
        raise ConfigError(f"data.path: no images ({', '.join(IMAGE_SUFFIXES)}) under {root}")
    class_names = sorted({p.parent.relative_to(root).as_posix() for p in files}) if labels else []
    class_of = {name: i for i, name in enumerate(class_names)}
    items = [(p, class_of.get(p.parent.relative_to(root).as_posix(), 0)) for p in files]

    def load(item):
        try:
            return load_image(item[0], size, channels), item[1]
        except ConfigError as err:
            raise ConfigError(f"data.path: {err}") from None

    if in_memory is False or (in_memory is None and len(items) > 20_000):
        return StreamingDataset("image_folder", items, load, (channels, size, size), len(class_names))
    loaded, bad = [], []
    for item in items:
        try:
            loaded.append(load(item))
        except ConfigError:
            bad.append(item[0])
    if bad:
        log.warning("warning: skipped %d unreadable image(s) of %d under %s (first: %s)", len(bad), len(items), root,
                    bad[0].name)
    if not loaded:
        raise ConfigError(f"data.path: none of the {len(items)} images under {root} can be read")
    targets = torch.tensor([y for _, y in loaded]) if class_names else None
    return TensorDataset("image_folder", torch.stack([x for x, _ in loaded]), targets, len(class_names))
