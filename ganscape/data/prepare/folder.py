"""Any folder or zip of images (png, jpg, webp, ...), searched recursively.

With ``labels``, an image's class is its sub-folder (its parent path relative to the folder that all images share,
so a folder and a zip of it give the same classes), classes numbered in sorted order. Unreadable or corrupt images
are skipped and counted in one summary line. Preprocessing: a centred ``crop`` square (0: the largest), resized to
``size``."""
from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath
from typing import Literal

from ganscape.data.images import IMAGE_SUFFIXES, image_files, is_image_name
from ganscape.data.prepare.base import PREPARERS, decode_split, report_skipped, zip_reader
from ganscape.data.prepare.store import PreparedWriter
from ganscape.registry import ConfigError, Count, Positive


def list_images(source: Path) -> tuple[list[tuple[object, str]], object, zipfile.ZipFile | None]:
    """[(handle, class folder)] sorted by path, a reader of a handle's bytes, and the open zip if any."""
    if source.is_dir():
        files = image_files(source)
        return [(p, p.parent.relative_to(source).as_posix()) for p in files], Path.read_bytes, None
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as err:
        raise ConfigError(f"--from: {source} is neither a folder nor a readable zip ({err})") from None
    infos = sorted((i for i in archive.infolist() if not i.is_dir() and is_image_name(i.filename)),
                   key=lambda i: PurePosixPath(i.filename))  # by path components, as a folder's Paths sort
    return [(i, PurePosixPath(i.filename).parent.as_posix()) for i in infos], zip_reader(archive), archive


def default_name(source: Path) -> str:
    return source.stem if source.is_file() else source.name


@PREPARERS.register("folder", "a folder or zip of images, recursive; classes from sub-folder names with --labels",
                    default_name=default_name)
def folder(source: Path, out: PreparedWriter, size: Positive = 64, crop: Count = 0, channels: Literal[1, 3] = 3,
           labels: bool = False, limit: Count = 0):
    images, read, archive = list_images(source)
    try:
        if not images:
            raise ConfigError(f"--from: no images ({', '.join(IMAGE_SUFFIXES)}) in {source}")
        if labels:  # before decoding: a quick refusal
            images = class_folders(images, source)
            check_classes({folder for _, folder in images}, source)
            if limit and len({folder for _, folder in images[:limit]}) < 2:
                raise ConfigError(f"--limit: the first {limit} images (in path order) are all in class "
                                  f"{images[0][1]!r}; raise --limit or leave --labels off")
        images = images[:limit] if limit else images
        kept, skipped = decode_split(out, "train", ((handle, folder) for handle, folder in images), read, size,
                                     channels, crop or None, total=len(images))
    finally:
        if archive is not None:
            archive.close()
    report_skipped(skipped, len(images), source)
    if not kept:
        raise ConfigError(f"--from: none of the {len(images)} images in {source} can be read")
    class_names = sorted(set(kept)) if labels else []  # a folder none of whose images could be read is no class
    if labels:
        check_classes(class_names, source)
        class_of = {name: i for i, name in enumerate(class_names)}
        out.extend("train", "labels", [class_of[folder] for folder in kept])
    crop_text = f"centred {crop} x {crop} crop" if crop else "largest centred square"
    return {"class_names": class_names, "skipped": skipped,
            "preprocessing": f"{crop_text}, bicubic resize to {size} x {size}, {'RGB' if channels == 3 else 'L'}"}


def class_folders(images: list[tuple[object, str]], source: Path) -> list[tuple[object, str]]:
    """Each image's class: its folder relative to the folder all images share, so a zip of ``photos/`` (members
    ``photos/cats/...``) gives the classes of the folder itself (``cats``). An image beside the class folders has no
    class: refused."""
    parts = [PurePosixPath(folder).parts for _, folder in images]
    common = 0
    while all(len(p) > common + 1 and p[common] == parts[0][common] for p in parts):
        common += 1
    if any(len(p) <= common for p in parts):
        loose = next(handle for (handle, _), p in zip(images, parts) if len(p) <= common)
        raise ConfigError(f"--labels: {getattr(loose, 'filename', loose)} lies beside the class folders, in no class; "
                          "move such images into a CLASS folder, or leave --labels off")
    return [(handle, PurePosixPath(*p[common:]).as_posix()) for (handle, _), p in zip(images, parts)]


def check_classes(class_names, source: Path) -> None:
    if len(class_names) < 2:
        raise ConfigError(f"--labels: classes are sub-folder names, but every image of {source} is in "
                          f"{next(iter(class_names))!r}; arrange the images as CLASS/IMAGE or leave --labels off")
