"""Stacked MNIST (Metz et al. 2017; the VEEGAN and PacGAN protocol): three digit images stacked as the three channels
of one image, so the data has 10^3 = 1,000 modes (digit triples). A generator's mode coverage is scored by
classifying each channel (the ``stacked_modes`` metric: modes captured of 1,000 and KL to uniform).

Triples are drawn once, seeded, as indices into the source digits, and stacked when a batch is read, so a 100k-sample
stacked set costs 100k x 3 indices, not 100k images. ``stacked_mnist`` stacks MNIST (the training split when its files
are there, else the 10k test set, said in one log line); ``stacked_digits`` stacks the bundled 8x8 digits upscaled,
needs no file and is what CI runs."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import torch

from ganscape.data.base import DATASETS, Dataset
from ganscape.data.digits import digits
from ganscape.data.mnist import DEFAULT_ROOT, FILES, mnist
from ganscape.registry import ConfigError, Positive

log = logging.getLogger("ganscape.data")
CHANNELS = 3


class StackedDataset(Dataset):
    """Sample i is ``source[triples[i]]`` as channels (3, H, W); its label is the triple as one number
    100 d0 + 10 d1 + d2 (num_classes 1000)."""

    def __init__(self, name: str, source: torch.Tensor, source_labels: torch.Tensor, n: int, seed: int,
                 source_data: dict):
        super().__init__(name, (CHANNELS, *source.shape[2:]), 10 ** CHANNELS,
                         {"stacked": True, "digit_source": source_data})
        gen = torch.Generator().manual_seed(seed)
        self.source, self.source_labels = source, source_labels
        self.triples = torch.randint(len(source), (n, CHANNELS), generator=gen)

    def __len__(self) -> int:
        return self.triples.shape[0]

    def get(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        triples = self.triples[indices.to(self.triples.device)]
        x = self.source[triples].squeeze(2)                           # (B, 3, 1, H, W) -> (B, 3, H, W)
        digits = self.source_labels[triples]                          # (B, 3)
        return x, (digits * torch.tensor([100, 10, 1], device=digits.device)).sum(1)

    def to_device(self, device: torch.device, limit_bytes: int) -> None:
        if self.source.numel() * self.source.element_size() < limit_bytes:
            self.source, self.source_labels = self.source.to(device), self.source_labels.to(device)
            self.triples = self.triples.to(device)

    def check_finite(self, key: str) -> None:
        if not bool(torch.isfinite(self.source).all()):
            raise ConfigError(f"{key}: the source digits hold NaN or inf values")


def split_available(root: str, split: str = "train") -> bool:
    """Whether the IDX files of MNIST's ``split`` are in ``root`` (gzipped or not)."""
    folder = Path(root).expanduser()
    return all((folder / name).exists() or (folder / name[:-3]).exists() for name, _ in FILES[split])


@DATASETS.register("stacked_mnist", "Stacked MNIST: 3 MNIST digits as RGB channels, 1,000 modes (needs MNIST files)",
    citation='Metz et al. 2017 (Unrolled GAN); protocol of Srivastava et al. 2017 (VEEGAN) and Lin et al. 2018 (PacGAN)')
def stacked_mnist(root: str = DEFAULT_ROOT, split: Literal["auto", "train", "test"] = "auto", size: Positive = 28,
                  n: Positive = 100_000, seed: int = 0):
    """``split: auto`` uses the 60k training digits when their files are in ``root``, else the 10k test digits."""
    if split == "auto":
        split = "train" if split_available(root) else "test"
        log.info("stacked_mnist: stacking the MNIST %s split (%s)", split,
                 "60k digits" if split == "train" else "10k digits: the training files are not in data.root")
    source = mnist(root=root, split=split, size=size)
    return StackedDataset("stacked_mnist", source.x, source.y, n, seed,
                          {"name": "mnist", "root": root, "split": split, "size": size})


@DATASETS.register("stacked_digits", "Stacked bundled digits: 3 of the 1,797 8x8 digits as RGB channels, 1,000 modes",
    citation='the Stacked MNIST protocol (Metz et al. 2017) on the scikit-learn digits')
def stacked_digits(size: Positive = 16, n: Positive = 20_000, seed: int = 0):
    source = digits(size=size)
    return StackedDataset("stacked_digits", source.x, source.y, n, seed, {"name": "digits", "size": size})


def digit_source(section: dict) -> dict | None:
    """The 1-channel digit data a stacked data section is made of (what a Stacked-MNIST classifier trains on), or
    None when ``section`` is not stacked data. The classifier trains on the training split when it is there."""
    name, size = section.get("name"), section.get("size")
    if name == "stacked_digits":
        return {"name": "digits", "size": size or 16}
    if name == "stacked_mnist":
        root = section.get("root", DEFAULT_ROOT)
        split = section.get("split", "auto")
        if split == "auto":
            split = "train" if split_available(root) else "test"
        return {"name": "mnist", "root": root, "split": split, "size": size or 28}
    return None
