"""Datasets prepared by ``ganscape data prepare``: uint8 arrays read with no decoding per step.

``{name: cifar10}``, ``{name: cifar100}``, ``{name: celeba}``, ``{name: lsun, category: bedroom}`` and, for
anything prepared with ``folder`` or ``hf``, ``{name: prepared, dataset: NAME}``. Options: ``split``, ``size`` (which
prepared size; 0 = the only one there is), ``root`` (default: ``$GANSCAPE_DATA``, else the cache's data folder),
``condition`` (``auto``: class labels when there are any, else attributes; or ``labels``, ``attributes``, ``none``).

Attribute conditioning (CelebA's 40 attributes) makes labels float (N, K) 0/1 vectors and ``num_classes`` = K; the
conditional layers treat a class id as the one-hot special case of such a vector (``models.conditional``)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ganscape.data.base import DATASETS, Dataset
from ganscape.data.prepare.store import MANIFEST, dataset_folder, load_array, read_manifest, split_images
from ganscape.paths import data_root
from ganscape.registry import ConfigError, Count
from ganscape.utils.io import file_digest

Condition = Literal["auto", "labels", "attributes", "none"]
IN_MEMORY_LIMIT_BYTES = 4 << 30  # larger image arrays are memory-mapped instead of read into memory
ATTRIBUTE_BANK = 1024            # real attribute vectors a run keeps, to draw realistic conditions from


class ArrayDataset(Dataset):
    """Images as uint8 (N, H, W, C), memory-mapped until first used, then (up to IN_MEMORY_LIMIT_BYTES) read into
    memory or onto the training device; a batch is one gather and one uint8 -> float conversion. Labels: int64
    (N,) class ids or float32 (N, K) attribute vectors."""

    def __init__(self, name: str, images: np.memmap, labels: torch.Tensor | None, num_classes: int, info: dict):
        super().__init__(name, (images.shape[3], images.shape[1], images.shape[2]), num_classes, info)
        self.images: np.memmap | torch.Tensor = images
        self.y = labels

    def __len__(self) -> int:
        return len(self.images)

    def loaded(self) -> np.memmap | torch.Tensor:
        if isinstance(self.images, np.memmap) and self.images.nbytes <= IN_MEMORY_LIMIT_BYTES:
            self.images = torch.from_numpy(np.array(self.images))  # a writable in-memory copy
        return self.images

    def get(self, indices: torch.Tensor):
        images = self.loaded()
        if isinstance(images, np.memmap):
            batch = torch.from_numpy(images[indices.cpu().numpy()])
        else:
            batch = images[indices.to(images.device)]
        x = batch.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
        return x, (None if self.y is None else self.y[indices.to(self.y.device)])

    def to_device(self, device: torch.device, limit_bytes: int) -> None:
        images = self.loaded()
        if isinstance(images, torch.Tensor) and images.numel() < limit_bytes:
            self.images = images.to(device)
            self.y = None if self.y is None else self.y.to(device)


def open_prepared(dataset: str, root: str | None, size: int) -> tuple[Path, dict]:
    """The folder and manifest of a prepared dataset; ConfigError with the command to run when it is not there."""
    base = data_root(root) / dataset
    sizes = sorted(int(p.name[:-2]) for p in base.glob("*px") if read_manifest(p)) if base.is_dir() else []
    if size == 0 and len(sizes) == 1:
        size = sizes[0]
    if size in sizes:
        folder = dataset_folder(data_root(root), dataset, size)
        return folder, read_manifest(folder)
    if sizes:
        raise ConfigError(f"data.size: {dataset} is prepared at {', '.join(f'{s} px' for s in sizes)} under "
                          f"{base}, not {size}; set data.size, or prepare it with --size" if size else
                          f"data.size: {dataset} is prepared at several sizes ({', '.join(f'{s} px' for s in sizes)}) "
                          f"under {base}; set data.size to one of them")
    command = f"ganscape data prepare {preparer_hint(dataset)} --from PATH"
    command += (f" --root {root}" if root is not None else "") + (f" --size {size}" if size else "")
    raise ConfigError(f"data.name: {dataset} is not prepared under {data_root(root)}; run `{command}` first "
                      "(see docs/data.md)")


def preparer_hint(dataset: str) -> str:
    if dataset in ("cifar10", "cifar100", "celeba"):
        return dataset
    return "lsun" if dataset.startswith("lsun_") else f"folder|hf --name {dataset}"


def load_prepared(dataset: str, split: str = "train", size: int = 0, root: str | None = None,
                  condition: Condition = "auto") -> ArrayDataset:
    folder, manifest = open_prepared(dataset, root, size)
    if split not in manifest["splits"]:
        raise ConfigError(f"data.split: {dataset} has no split {split!r}; splits: {', '.join(manifest['splits'])}")
    facts = manifest["splits"][split]
    images = split_images(folder, split, facts)
    info = {"manifest": file_digest(folder / MANIFEST)[:16], "prepared": str(folder)}
    labels, classes = condition_of(folder, split, facts, manifest, condition, info)
    return ArrayDataset(dataset, images, labels, classes, info)


def condition_of(folder: Path, split: str, facts: dict, manifest: dict, condition: str,
                 info: dict) -> tuple[torch.Tensor | None, int]:
    """(labels, num_classes) for the chosen conditioning; records names (and an attribute bank) in ``info``."""
    if condition == "auto":
        condition = "labels" if facts["labels"] else "attributes" if facts["attributes"] else "none"
    if condition == "none":
        return None, 0
    if not facts[condition]:
        has = [kind for kind in ("labels", "attributes") if facts[kind]]
        raise ConfigError(f"data.condition: {manifest['name']} split {split!r} has no {condition}; valid: "
                          f"{', '.join(['auto', 'none'] + has)}")
    values = load_array(folder / f"{split}_{condition}.npy")
    if condition == "labels":
        names = manifest.get("class_names") or [str(i) for i in range(int(values.max()) + 1)]
        info["class_names"] = ",".join(names)
        return torch.from_numpy(values.astype(np.int64)), len(names)
    info["attribute_names"] = ",".join(manifest["attribute_names"])
    bank = np.random.default_rng(0).permutation(len(values))[:ATTRIBUTE_BANK]
    info["attribute_bank"] = torch.from_numpy(values[np.sort(bank)].copy())
    return torch.from_numpy(values.astype(np.float32)), values.shape[1]


@DATASETS.register("prepared", "a dataset made by `ganscape data prepare` (folder, hf, any name)")
def prepared(dataset: str, split: str = "train", size: Count = 0, root: str | None = None,
             condition: Condition = "auto"):
    return load_prepared(dataset, split, size, root, condition)


@DATASETS.register("cifar10", "CIFAR-10 (prepare with `ganscape data prepare cifar10`), 32 px, 10 classes",
                   citation="Krizhevsky 2009")
def cifar10(split: Literal["train", "test"] = "train", size: Count = 32, root: str | None = None,
            condition: Condition = "auto"):
    return load_prepared("cifar10", split, size, root, condition)


@DATASETS.register("cifar100", "CIFAR-100 (prepare with `ganscape data prepare cifar100`), 32 px, 100 classes",
                   citation="Krizhevsky 2009")
def cifar100(split: Literal["train", "test"] = "train", size: Count = 32, root: str | None = None,
             condition: Condition = "auto"):
    return load_prepared("cifar100", split, size, root, condition)


@DATASETS.register("celeba", "CelebA faces (prepare with `ganscape data prepare celeba`), 40 attributes",
                   citation="Liu et al. 2015")
def celeba(split: Literal["train", "valid", "test"] = "train", size: Count = 64, root: str | None = None,
           condition: Condition = "none"):
    return load_prepared("celeba", split, size, root, condition)


@DATASETS.register("lsun", "an LSUN category (prepare with `ganscape data prepare lsun`)", citation="Yu et al. 2015")
def lsun(category: str = "bedroom", split: Literal["train", "val"] = "train", size: Count = 64,
         root: str | None = None):
    return load_prepared(f"lsun_{category}", split, size, root, "none")
