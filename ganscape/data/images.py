"""Decoding one image file into the arrays ganscape trains on: the same crop and resize everywhere (image folders,
dataset preparation, ``ganscape translate``), so what a run was trained on and what it is given match."""
from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from ganscape.registry import ConfigError

EXIF_ORIENTATION = 0x0112  # the EXIF tag of how the stored pixels are turned
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")


def is_image_name(path: str) -> bool:
    """A POSIX path (relative, or a zip member's name) of an image file, not macOS metadata (``__MACOSX/``,
    ``._000001.jpg``), which zips made on a Mac carry beside every image."""
    parts = path.split("/")
    return (Path(path).suffix.lower() in IMAGE_SUFFIXES and not parts[-1].startswith("._")
            and "__MACOSX" not in parts)


def image_files(root: Path, recursive: bool = True) -> list[Path]:
    """The image files under folder ``root`` (at any depth, else its own), sorted by path; macOS metadata left out."""
    found = root.rglob("*") if recursive else root.iterdir()
    return sorted(p for p in found if p.is_file() and is_image_name(p.relative_to(root).as_posix()))


def eight_bit(img: Image.Image) -> Image.Image:
    """16-bit greyscale (PNG and TIFF open as mode I;16, I;16B or I) as 8-bit L, keeping the top 8 bits: PIL's
    ``convert`` clips these values at 255 instead, so a mid-grey 16-bit image would come out white."""
    if not (img.mode.startswith("I;16") or img.mode == "I"):
        return img
    values = np.clip(np.asarray(img).astype(np.int64), 0, 65535) >> 8
    return Image.fromarray(values.astype(np.uint8), mode="L")


class CropTooLarge(ConfigError):
    """``--crop`` asks for a square larger than an image: an error for the whole preparation, not a skipped image."""


def crop_resize(img: Image.Image, size: int, channels: int, crop: int | None = None) -> np.ndarray:
    """A PIL image -> uint8 (size, size, channels): turned upright by its EXIF orientation, converted to L or RGB,
    centre-cropped to a ``crop`` x ``crop`` square (default: the largest centred square), resized with antialiased
    bicubic filtering. A ``crop`` larger than the image's shorter side raises CropTooLarge (it would not be the crop
    asked for)."""
    if img.getexif().get(EXIF_ORIENTATION, 1) != 1:  # a phone photo stored sideways: as viewers show it
        img = ImageOps.exif_transpose(img)
    if crop and crop > min(img.size):
        raise CropTooLarge(f"--crop: {crop} is larger than an image of {img.width} x {img.height}; give --crop "
                           f"{min(img.size)} or less")
    img = eight_bit(img).convert("L" if channels == 1 else "RGB")
    side = crop or min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    img = img.crop((left, top, left + side, top + side))
    if img.size != (size, size):
        img = img.resize((size, size), Image.BICUBIC)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[..., None] if channels == 1 else arr


def decode(source: Path | bytes, size: int, channels: int, crop: int | None = None) -> np.ndarray:
    """A file path or encoded bytes -> uint8 (size, size, channels); unreadable input raises ValueError."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
            return crop_resize(img, size, channels, crop)
    except CropTooLarge:
        raise
    # PIL's errors for corrupt or unknown data (and for an image over twice its decompression-bomb limit, 179
    # megapixels: up to that, a 100-megapixel camera's photos, it only warns); SyntaxError and struct.error come
    # from a corrupt EXIF block
    except (OSError, ValueError, SyntaxError, struct.error, Image.DecompressionBombError) as err:
        raise ValueError(str(err) or type(err).__name__) from None


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [-1, 1]."""
    return torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)  # a writable copy


def load_image(path: Path, size: int, channels: int) -> torch.Tensor:
    """Read one image file as (channels, size, size) float in [-1, 1] (centre-cropped square); ConfigError if
    it cannot be read."""
    try:
        return to_tensor(decode(path, size, channels)[None])[0]
    except ValueError as err:
        raise ConfigError(f"cannot read image {path} ({err})") from None
