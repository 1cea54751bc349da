"""Samplers: a trained run seen as "something that draws samples", for every run kind.

``sample``, ``eval``, the analysis commands, evaluation during training and studies all use a
sampler, so they work alike on GAN, conditional and translation runs:

- ``GeneratorSampler``: a generator (in eval mode) with its latent prior; ``sample(n)`` draws
  G(z) for z from the prior (labels for conditional generators).
- ``TranslationSampler``: one direction of a CycleGAN; ``sample(n)`` draws n images of the
  source domain and translates them, so metrics compare translations with the target domain.

``reference`` is the data section the samples are compared with; ``data_meta`` describes the
samples' data (shape, classes, kind).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ganscape.registry import ConfigError
from ganscape.runtime import side_rng

LabelSpec = torch.Tensor | int | None


@dataclass
class GeneratorSampler:
    G: nn.Module
    prior: nn.Module
    config: dict[str, Any]
    step: int
    data_meta: dict[str, Any]
    device: torch.device
    kind: str = "gan"

    @property
    def num_classes(self) -> int:
        return self.G.num_classes

    @property
    def reference(self) -> dict[str, Any]:
        return self.config["data"]

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = 0, labels: LabelSpec = None, batch: int = 256) -> torch.Tensor:
        """Draw ``n`` samples (n, *shape); ``labels`` is a class id or (n,) ids for conditional G."""
        if seed is None:
            return self.decode(self.prior.sample(n, self.device), self.labels(n, labels), batch)
        with side_rng(seed, self.device):
            z = self.prior.sample(n, self.device)
            y = self.labels(n, labels)
            return self.decode(z, y, batch)

    def labels(self, n: int, labels: LabelSpec) -> torch.Tensor | None:
        if not self.num_classes:
            if labels is not None:
                raise ConfigError("--class: this generator is unconditional; it takes no class label")
            return None
        if labels is None:
            return torch.randint(self.num_classes, (n,), device=self.device)
        if isinstance(labels, int):
            if not 0 <= labels < self.num_classes:
                raise ConfigError(f"--class: {labels} is not a class of this run; valid: 0..{self.num_classes - 1}")
            return torch.full((n,), labels, dtype=torch.long, device=self.device)
        return labels.to(self.device)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None, batch: int = 256) -> torch.Tensor:
        """G(z, y) in chunks, on the generator's device."""
        out = [self.G(z[i:i + batch].to(self.device), None if y is None else y[i:i + batch])
               for i in range(0, len(z), batch)]
        return torch.cat(out)


@dataclass
class TranslationSampler:
    G: nn.Module
    source: dict[str, Any]           # data section of the input domain
    target: dict[str, Any]           # data section of the output domain
    config: dict[str, Any]
    step: int
    data_meta: dict[str, Any]        # of the output domain
    in_shape: tuple[int, ...]
    device: torch.device
    direction: str = "a2b"
    kind: str = "translation"
    _source_data: Any = field(default=None, repr=False)
    num_classes: int = 0

    @property
    def reference(self) -> dict[str, Any]:
        return self.target

    @torch.no_grad()
    def translate(self, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
        """(B, *in_shape) in [-1, 1] -> (B, *out_shape)."""
        return torch.cat([self.G(x[i:i + batch].to(self.device)) for i in range(0, len(x), batch)])

    def sample(self, n: int, seed: int | None = 0, labels: LabelSpec = None, batch: int = 64) -> torch.Tensor:
        """Translations of ``n`` source-domain images drawn at random (seeded, with replacement
        only when the source has fewer than n images)."""
        if labels is not None:
            raise ConfigError("--class: a translation run takes no class label")
        data = self.source_data()
        gen = torch.Generator().manual_seed(0 if seed is None else seed)
        if n <= len(data):
            idx = torch.randperm(len(data), generator=gen)[:n]
        else:
            idx = torch.randint(len(data), (n,), generator=gen)
        x = torch.cat([data.get(chunk)[0] for chunk in idx.split(1024)])
        return self.translate(x, batch)

    def source_data(self):
        if self._source_data is None:
            from ganscape.data import build_dataset

            key = "data" if self.direction == "a2b" else "data_b"
            self._source_data = build_dataset(self.source, key)
        return self._source_data
