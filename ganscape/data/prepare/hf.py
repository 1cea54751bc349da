"""A Hugging Face ``datasets`` dataset (optional extra ``hf``: ``pip install 'ganscape[hf]'``).

``--from`` is a folder written by ``Dataset.save_to_disk`` (or ``DatasetDict.save_to_disk``), local data files
(parquet, arrow, csv/json with image paths, relative ones read from the file's folder; an image folder) that
``datasets.load_dataset`` reads, or, when online, a hub name such as ``cifar10``. Every split is prepared (or only
``split``). The image column holds ``datasets`` Image values (or raw bytes/paths); the optional label column a
ClassLabel (its names kept) or any values, one per row (numbered in sorted order: numbers by value, anything else as
text). Images are decoded by ganscape, in parallel, with the same crop and resize as ``folder``. The source's
fingerprint covers the files ``--from`` names, not the image files a csv/json lists."""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from ganscape.data.prepare.base import PREPARERS, decode_split, report_skipped, require_extra
from ganscape.data.prepare.store import PreparedWriter
from ganscape.registry import ConfigError, Count, Positive

DATA_FILES = {".parquet": "parquet", ".arrow": "arrow", ".csv": "csv", ".json": "json", ".jsonl": "json"}


def load(source: Path | str, split: str | None) -> dict[str, Any]:
    """Split name -> ``datasets.Dataset``."""
    datasets = require_extra("datasets", "hf", "hf")
    path = Path(source)
    try:
        if path.is_dir() and any((path / f).is_file() for f in ("dataset_dict.json", "state.json")):
            loaded = datasets.load_from_disk(str(path))
        elif path.is_file() and path.suffix in DATA_FILES:
            loaded = datasets.load_dataset(DATA_FILES[path.suffix], data_files=str(path))
        else:
            loaded = datasets.load_dataset(str(source))
    except Exception as err:  # datasets raises many kinds (FileNotFoundError, ConnectionError, DatasetNotFoundError)
        where = "local files" if path.exists() else "hub name (are you online?)"
        raise ConfigError(f"--from: cannot load {source} as a datasets {where}: "
                          f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    splits = dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}
    if split is not None:
        if split not in splits:
            raise ConfigError(f"--split: {source} has no split {split!r}; splits: {', '.join(splits)}")
        splits = {split: splits[split]}
    return splits


def image_bytes(value: Any, base: Path | None = None) -> bytes:
    """An undecoded Image value ({bytes, path}), raw bytes or a file path -> encoded bytes. A relative path is read
    from ``base`` (the folder of the csv/json file that lists it), not from the current folder."""
    if isinstance(value, dict):
        if value.get("bytes"):
            return value["bytes"]
        value = value.get("path")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        path = Path(value).expanduser()
        return (path if path.is_absolute() or base is None else base / path).read_bytes()
    raise ValueError(f"not an image value: {type(value).__name__}")


def check_label_column(splits: dict[str, Any], column: str) -> None:
    """One class per row: a ClassLabel, a number or text; a list, a dict or a missing (None) value is refused."""
    datasets = require_extra("datasets", "hf", "hf")
    for name, ds in splits.items():
        feature = ds.features[column]
        if not isinstance(feature, (datasets.ClassLabel, datasets.Value)):
            raise ConfigError(f"--label-column: {column!r} holds {type(feature).__name__} values in split {name!r}; "
                              "it must hold one class per row (a ClassLabel, a number or text)")
        missing = sum(v is None for v in ds[column])
        if missing:
            raise ConfigError(f"--label-column: {missing} row(s) of split {name!r} have no {column!r} (None); "
                              "label every row, or prepare without --label-column")


def label_names(splits: dict[str, Any], column: str) -> tuple[list[str], dict[Any, int] | None]:
    """(class names, value -> id map or None when the values already are ClassLabel ids), the same for every split:
    a ClassLabel's names, else the sorted union of every split's values."""
    feature = next(iter(splits.values())).features[column]
    if hasattr(feature, "names") and feature.names:
        return list(feature.names), None
    values = {v for ds in splits.values() for v in ds.unique(column)}
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    values = sorted(values) if numbers else sorted(values, key=str)  # 2 before 10, and ids 0..K-1 stay themselves
    return [str(v) for v in values], {v: i for i, v in enumerate(values)}


def label_ids(ds, column: str, mapping: dict[Any, int] | None, classes: int, where: str) -> list[int]:
    ids = [mapping[v] for v in ds[column]] if mapping else [int(v) for v in ds[column]]
    bad = [v for v in ids if not 0 <= v < classes]
    if bad:
        raise ConfigError(f"--label-column: {where} has label {bad[0]} outside 0..{classes - 1} (e.g. -1 for an "
                          "unlabelled split); prepare it without --label-column, or choose --split")
    return ids


def image_values(ds, column: str, batch: int = 256):
    """The column's values, read in batches (a split never has to fit in memory)."""
    for rows in ds.iter(batch_size=batch):
        yield from rows[column]


def default_name(source: Path) -> str:
    return source.stem if source.exists() else str(source).replace("/", "_")


@PREPARERS.register("hf", "a Hugging Face datasets dataset (save_to_disk folder, local files or hub name), "
                    "optional extra 'hf'", default_name=default_name, hub=True,
                    one_split=lambda options: options["split"] is not None)
def hf(source: Path, out: PreparedWriter, size: Positive = 64, crop: Count = 0, image_column: str = "image",
       label_column: str | None = None, split: str | None = None, limit: Count = 0):
    """``limit`` keeps the first N rows of each split (0: all)."""
    datasets = require_extra("datasets", "hf", "hf")
    splits = load(source, split)
    for split_name, ds in splits.items():
        for column in (image_column, label_column):
            if column is not None and column not in ds.column_names:
                flag = "--image-column" if column == image_column else "--label-column"
                raise ConfigError(f"{flag}: {source} split {split_name!r} has no column {column!r}; "
                                  f"columns: {', '.join(ds.column_names)}")
    if label_column is not None:
        check_label_column(splits, label_column)
    names, mapping = label_names(splits, label_column) if label_column is not None else ([], None)
    base = Path(source).parent if Path(source).is_file() else None  # csv/json rows may list paths relative to it
    skipped_total = rows_total = 0
    for split_name, ds in splits.items():
        if limit:
            ds = ds.select(range(min(limit, len(ds))))
        if isinstance(ds.features[image_column], datasets.Image):
            ds = ds.cast_column(image_column, datasets.Image(decode=False))
        ids = label_ids(ds, label_column, mapping, len(names), f"split {split_name!r}") if label_column else None
        rows = ((value, index) for index, value in enumerate(image_values(ds, image_column)))
        kept, skipped = decode_split(out, split_name, rows, partial(image_bytes, base=base), size, 3, crop or None,
                                       total=len(ds))
        if ids is not None:
            out.extend(split_name, "labels", [ids[i] for i in kept])
        skipped_total, rows_total = skipped_total + skipped, rows_total + len(ds)
    report_skipped(skipped_total, rows_total, source)
    if skipped_total == rows_total:
        raise ConfigError(f"--image-column: no value of {image_column!r} in {source} is a readable image")
    crop_text = f"centred {crop} x {crop} crop" if crop else "largest centred square"
    return {"class_names": names, "skipped": skipped_total,
            "preprocessing": f"{crop_text}, bicubic resize to {size} x {size}"}
