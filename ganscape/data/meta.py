"""What a run remembers about its data, so that sampling, evaluation and analysis work
without loading the data again: name, sample shape, classes, toy-mixture facts, and the kind
of data that decides the default metric set (see ``ganscape.metrics.defaults``)."""
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
