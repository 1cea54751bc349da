"""What every preparer shares: the PREPARERS registry and decoding images in parallel into a split.

A preparer is ``factory(source, out, **options) -> facts``: it reads ``source`` (a Path, or for ``hf`` possibly a hub
name), writes splits through ``out`` (a ``PreparedWriter``) and returns facts for the manifest (class names,
attribute names, whether the archive is the official file, how many images were skipped)."""
from __future__ import annotations

import logging
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ganscape.data.images import CropTooLarge, decode
from ganscape.data.prepare.store import PreparedWriter
from ganscape.registry import ConfigError, Registry

log = logging.getLogger("ganscape.data.prepare")
PREPARERS = Registry("dataset preparer", context_args=("source", "out"))
CHUNK = 256  # images decoded per batch of work (and appended per write)


def progress(total: int | None, what: str):
    """A tqdm bar on a terminal, nothing otherwise (logs and CI stay clean)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=what, unit="img", disable=None, leave=False)


MAX_MEMBER_BYTES = 256 << 20  # an archive member larger than this is no dataset image or CIFAR batch (the largest,
# CIFAR-100's train pickle, is 155 MB): a decompression bomb is skipped, not read into memory


def zip_reader(archive: zipfile.ZipFile) -> Callable[[zipfile.ZipInfo], bytes]:
    """Reads a member's bytes; one over MAX_MEMBER_BYTES (by its declared size, which zipfile also enforces while
    reading) is refused as an unreadable image (ValueError) before anything is decompressed."""
    def read(info: zipfile.ZipInfo) -> bytes:
        if info.file_size > MAX_MEMBER_BYTES:
            raise ValueError(f"{info.filename}: {info.file_size} bytes unpacked, more than any image")
        return archive.read(info)
    return read


def item_name(item: Any) -> str:
    """Where an item of ``decode_split`` comes from, for a message: a file, a zip member, a listed path."""
    if isinstance(item, zipfile.ZipInfo):
        return f"member {item.filename}"
    if isinstance(item, dict):
        item = item.get("path")
    return f"image {item}" if isinstance(item, (str, Path)) else "one of its images"


def decode_split(out: PreparedWriter, split: str, items: Iterable[tuple[Any, Any]], read: Callable[[Any], bytes],
                 size: int, channels: int = 3, crop: int | None = None, total: int | None = None,
                 workers: int = 4) -> tuple[list[Any], int]:
    """Decode ``items`` (pairs of (source item, tag)) into split ``split``: ``read(item)`` gives encoded bytes, which
    are centre-cropped (``crop`` or the largest square) and resized to ``size``. Returns the tags of the images kept,
    in order, and the number skipped because they could not be read or decoded."""
    images = out.images(split, (size, size, channels))
    kept, skipped = [], 0

    def load(pair):
        try:
            return decode(read(pair[0]), size, channels, crop), pair[1]
        except CropTooLarge as err:  # which image, in a folder of 200k
            raise CropTooLarge(f"{err} ({item_name(pair[0])})") from None
        except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):  # one bad image
            return None, pair[1]
        except (NotImplementedError, RuntimeError) as err:  # e.g. an encrypted or Deflate64 zip: every image
            raise ConfigError(f"--from: cannot read the images of this archive ({err})") from None

    with ThreadPoolExecutor(workers) as pool, progress(total, f"{split}") as bar:
        for chunk in chunked(items, CHUNK):
            decoded = list(pool.map(load, chunk))
            good = [(arr, tag) for arr, tag in decoded if arr is not None]
            skipped += len(decoded) - len(good)
            if good:
                images.append(np.stack([arr for arr, _ in good]))
                kept += [tag for _, tag in good]
            bar.update(len(decoded))
    return kept, skipped


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def report_skipped(skipped: int, total: int, source: Any) -> None:
    """One summary line for unreadable images (never one per image)."""
    if skipped:
        log.warning("warning: skipped %d unreadable image(s) of %d in %s", skipped, total, source)


def require_extra(module: str, extra: str, preparer: str):
    """Import an optional dependency, or fail with the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"{preparer}: needs the optional package {module!r}; install it with "
                          f"pip install 'ganscape[{extra}]'") from None
