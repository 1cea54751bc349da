"""CelebA aligned faces (Liu et al. 2015, https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html).

Source: ``img_align_celeba.zip`` or its extracted folder (178 x 218 JPEGs). Beside it (or in ``Anno/``/``Eval/``
sub-folders, as in the official Google Drive layout), when present:

- ``list_eval_partition.txt``: ``000001.jpg 0`` per line, 0/1/2 = train/valid/test -> three splits (else one
  ``train`` split of every image);
- ``list_attr_celeba.txt``: a count line, a line of the 40 attribute names, then ``000001.jpg  -1  1 ...`` per
  image -> ``SPLIT_attributes.npy`` (N, 40) 0/1, for attribute-conditional models.

Preprocessing: the usual GAN crop, a centred ``crop`` x ``crop`` square (108 by default) resized to ``size`` (64)."""
from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np

from ganscape.data.images import IMAGE_SUFFIXES, image_files, is_image_name
from ganscape.data.prepare.base import PREPARERS, decode_split, log, report_skipped, zip_reader
from ganscape.data.prepare.store import PreparedWriter
from ganscape.registry import ConfigError, Count, Positive

PARTITION_FILE, ATTRIBUTE_FILE = "list_eval_partition.txt", "list_attr_celeba.txt"
PARTITIONS = {"0": "train", "1": "valid", "2": "test"}


def image_index(source: Path) -> tuple[dict[str, Any], Callable[[Any], bytes], zipfile.ZipFile | None]:
    """Image file name (e.g. ``000001.jpg``) -> its handle, a reader of its bytes, and the open zip if any. The
    annotations name images by file name alone, so two files of one name (``Img/`` holding both the aligned and the
    in-the-wild folders) are refused."""
    if source.is_dir():
        return by_file_name(image_files(source), lambda p: p.name, source), Path.read_bytes, None
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as err:
        raise ConfigError(f"--from: {source} is not a readable zip or folder ({err})") from None
    infos = [info for info in archive.infolist() if not info.is_dir() and is_image_name(info.filename)]
    try:
        return by_file_name(infos, lambda info: PurePosixPath(info.filename).name, source), zip_reader(archive), archive
    except ConfigError:
        archive.close()
        raise


def by_file_name(handles: list[Any], name_of: Callable[[Any], str], source: Path) -> dict[str, Any]:
    files: dict[str, Any] = {}
    for handle in handles:
        name = name_of(handle)
        if name in files:
            raise ConfigError(f"--from: {source} holds two images named {name} ({where(files[name])} and "
                              f"{where(handle)}), which the annotations cannot tell apart; give the folder of one "
                              "set only (img_align_celeba)")
        files[name] = handle
    return files


def where(handle: Any) -> str:
    return str(handle) if isinstance(handle, Path) else handle.filename


def annotation_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise ConfigError(f"--from: {path} is not a text file as the download's (byte {err.start} is not UTF-8)") \
            from None


def find_annotation(source: Path, name: str) -> Path | None:
    """``name`` beside the source, inside it (a folder), or in the official ``Anno``/``Eval`` folders: those sit
    beside ``Img/``, which holds the zip, in the download (``CelebA/Img/img_align_celeba.zip``,
    ``CelebA/Eval/list_eval_partition.txt``, ``CelebA/Anno/list_attr_celeba.txt``)."""
    tops = [source.parent, source.parent.parent]
    if source.is_dir():
        tops = [source] + tops
    places = [folder for top in tops for folder in (top, top / "Anno", top / "Eval")]
    return next((p / name for p in places if (p / name).is_file()), None)


def read_partition(path: Path) -> dict[str, str]:
    split_of = {}
    for number, line in enumerate(annotation_lines(path), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in PARTITIONS:
            raise ConfigError(f"--from: {path}:{number}: expected 'FILE 0|1|2', got {line!r}")
        split_of[parts[0]] = PARTITIONS[parts[1]]
    return split_of


def read_attributes(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """(40 attribute names, file name -> uint8 (40,) 0/1) from list_attr_celeba.txt."""
    lines = annotation_lines(path)
    if len(lines) < 2:
        raise ConfigError(f"--from: {path} is too short to be {ATTRIBUTE_FILE}")
    names, rows = lines[1].split(), {}
    for number, line in enumerate(lines[2:], 3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1 or not set(parts[1:]) <= {"-1", "1"}:
            raise ConfigError(f"--from: {path}:{number}: expected a file name and {len(names)} values of -1/1")
        rows[parts[0]] = (np.array(parts[1:], dtype=np.int8) > 0).astype(np.uint8)
    return names, rows


def annotations(source: Path) -> list[Path]:
    """The annotation files a preparation of ``source`` reads (part of what makes it up to date)."""
    return [p for p in (find_annotation(source, PARTITION_FILE), find_annotation(source, ATTRIBUTE_FILE)) if p]


@PREPARERS.register("celeba", "CelebA aligned faces from img_align_celeba.zip or its folder, with the "
                    "partition and the 40 attributes when present", citation="Liu et al. 2015",
                    companions=annotations)
def celeba(source: Path, out: PreparedWriter, size: Positive = 64, crop: Positive = 108, limit: Count = 0):
    """``limit`` keeps the first N images of each split (0: all)."""
    files, read, archive = image_index(source)
    if not files:
        raise ConfigError(f"--from: no images ({', '.join(IMAGE_SUFFIXES)}) in {source}")
    partition_file, attribute_file = find_annotation(source, PARTITION_FILE), find_annotation(source, ATTRIBUTE_FILE)
    for found, name, without in ((partition_file, PARTITION_FILE, "one train split of every image"),
                                 (attribute_file, ATTRIBUTE_FILE, "no attributes")):
        if found is None:
            log.warning("warning: no %s beside %s or in the download's Anno/ and Eval/ folders: %s", name, source,
                        without)
    split_of = read_partition(partition_file) if partition_file else {}
    attribute_names, attributes = read_attributes(attribute_file) if attribute_file else ([], {})
    names = sorted(files)
    if split_of:
        unlisted = [n for n in names if n not in split_of]
        if unlisted:
            log.warning("warning: %d image(s) are not in %s and were left out (first: %s)", len(unlisted),
                        partition_file, unlisted[0])
        absent = [n for n in split_of if n not in files]
        if absent:  # a partly extracted download, most often
            log.warning("warning: %d of the %d image(s) %s lists are not in %s; their splits are that much smaller "
                        "(first: %s)", len(absent), len(split_of), partition_file.name, source, absent[0])
    skipped = 0
    try:
        for split in (dict.fromkeys(PARTITIONS.values()) if split_of else ["train"]):
            members = [n for n in names if split_of.get(n, "train" if not split_of else None) == split]
            members = members[:limit] if limit else members
            if not members:
                continue
            if attributes and (missing := [n for n in members if n not in attributes]):
                raise ConfigError(f"--from: {attribute_file} has no attributes for {len(missing)} image(s), "
                                  f"e.g. {missing[0]}")
            kept, bad = decode_split(out, split, ((files[n], n) for n in members), read, size, 3, crop,
                                     total=len(members))
            skipped += bad
            if attributes:
                out.extend(split, "attributes", [attributes[n] for n in kept])
    finally:
        if archive is not None:
            archive.close()
    report_skipped(skipped, len(names), source)
    return {"attribute_names": attribute_names, "skipped": skipped,
            "annotations": {"partition": str(partition_file) if partition_file else None,
                            "attributes": str(attribute_file) if attribute_file else None},
            "preprocessing": f"centre crop {crop} x {crop}, bicubic resize to {size} x {size}"}
