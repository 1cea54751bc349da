"""What a run remembers about its data, so that sampling, evaluation and analysis work
without loading the data again: name, sample shape, classes, toy-mixture facts, and the kind
of data that decides the default metric set (see ``ganscape.metrics.defaults``); and the label that names a data
section in protocol names."""
from __future__ import annotations

from typing import Any

import torch

from ganscape.data.base import Dataset

# Data kinds: 2-D toy mixtures with known centres, other vectors, 1-channel (digit) images,
# colour images, and Stacked-MNIST style 3-channel digit stacks.
DATA_KINDS = ("toy", "vectors", "gray", "color", "stacked")


def data_meta(dataset: Dataset) -> dict[str, Any]:
    """{name, shape, num_classes, info, kind}; ``info`` keeps tensors and plain scalars only."""
    info = {k: v for k, v in dataset.info.items() if isinstance(v, (torch.Tensor, int, float, str))}
    meta = {"name": dataset.name, "shape": list(dataset.shape), "num_classes": dataset.num_classes, "info": info}
    meta["kind"] = data_kind(meta)
    return meta


def data_kind(meta: dict[str, Any]) -> str:
    """One of DATA_KINDS, from the shape and info of a data_meta record."""
    shape, info = tuple(meta["shape"]), meta.get("info", {})
    if info.get("stacked"):
        return "stacked"
    if len(shape) == 1:
        return "toy" if "centers" in info else "vectors"
    return "gray" if shape[0] == 1 else "color"


# Data options that do not change which images a section holds (where files are and how they are read) or that
# only subset them or set their size: left out of a section's label.
UNLABELLED_OPTIONS = ("root", "download", "in_memory", "size", "n", "seed", "limit", "per_class", "condition",
                      "label_key", "labels")


def data_label(section: dict[str, Any]) -> str:
    """The data a section holds, as a suffix for protocol names: ``-mnist-test`` for ``{name: mnist, split: test,
    root: ...}``, ``-digits-invert-rotate90``, ``-lsun-church-outdoor``, ``-image_folder-faces`` (a path's last name):
    the name, then each option that differs from its default, except ``UNLABELLED_OPTIONS`` (a file path by its last
    name only: two files of one name in two folders share a label)."""
    from pathlib import PurePath

    from ganscape.data.base import DATASETS
    from ganscape.registry import option_text

    name = str(section.get("name", "data"))
    defaults = ({k: p.default for k, p in DATASETS.get(name).options().items()} if name in DATASETS.names() else {})
    parts = [name]
    for key, value in section.items():
        if key == "name" or key in UNLABELLED_OPTIONS or (key in defaults and value == defaults[key]):
            continue
        if key == "path":
            parts.append(PurePath(str(value)).stem)
        elif isinstance(value, bool):
            parts.append(key if value else f"no_{key}")
        elif isinstance(value, str):
            parts.append(value)
        else:  # a float option given a whole number (radius: 2 or 2.0) has one label
            parts.append(f"{key}{option_text(value)}")
    return "-" + "-".join("".join(c if c.isalnum() else "-" for c in part) for part in parts)
