"""Samplers: a trained run seen as "something that draws samples", for every run kind, so that ``sample``, ``eval``,
analysis, evaluation during training and studies work alike on all of them.

- ``GeneratorSampler``: a generator (eval mode) and its latent prior; ``sample(n)`` draws G(z) for z from the prior,
  with labels for conditional generators.
- ``TranslationSampler``: one direction of a CycleGAN; ``sample(n)`` translates n images of the source domain, so
  metrics compare translations with the target domain.
``reference`` is the data section samples are compared with; ``data_meta`` describes their data."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ganscape.registry import ConfigError
from ganscape.runtime import side_rng


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
    def sample(self, n: int, seed: int | None = 0, labels: torch.Tensor | int | None = None,
               batch: int = 256) -> torch.Tensor:
        """``n`` samples (n, *shape) on a side RNG stream of ``seed`` (the global one if None);
        ``labels``: a class id or (n,) ids for a conditional G (default: uniform classes)."""
        with side_rng(seed, self.device):
            return self.decode(self.prior.sample(n, self.device), self.labels(n, labels), batch)

    def labels(self, n: int, labels: torch.Tensor | int | None) -> torch.Tensor | None:
        if not self.num_classes:
            if labels is not None:
                raise ConfigError("--class: this generator is unconditional; it takes no class label")
            return None
        if labels is None:
            return torch.randint(self.num_classes, (n,), device=self.device)
        if isinstance(labels, int) and not 0 <= labels < self.num_classes:
            raise ConfigError(f"--class: {labels} is not a class of this run; valid: 0..{self.num_classes - 1}")
        return torch.full((n,), labels, device=self.device) if isinstance(labels, int) else labels.to(self.device)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None, batch: int = 256) -> torch.Tensor:
        """G(z, y) in chunks, on the generator's device."""
        return torch.cat([self.G(z[i:i + batch].to(self.device), None if y is None else y[i:i + batch])
                          for i in range(0, len(z), batch)])


@dataclass
class TranslationSampler:
    G: nn.Module
    source: dict[str, Any]           # data section of the input domain
    reference: dict[str, Any]        # data section of the output domain, which samples are compared with
    config: dict[str, Any]
    step: int
    data_meta: dict[str, Any]        # of the output domain
    in_shape: tuple[int, ...]
    device: torch.device
    direction: str = "a2b"
    source_data: Any = field(default=None, repr=False)  # built from ``source`` on first use
    kind: str = "translation"
    num_classes: int = 0

    @torch.no_grad()
    def translate(self, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
        """(B, *in_shape) in [-1, 1] -> (B, *out_shape)."""
        return torch.cat([self.G(x[i:i + batch].to(self.device)) for i in range(0, len(x), batch)])

    def sample(self, n: int, seed: int | None = 0, labels: Any = None, batch: int = 64) -> torch.Tensor:
        """Translations of ``n`` source images drawn at random (seeded; with replacement only
        when the source has fewer than n)."""
        from ganscape.data import build_dataset

        if labels is not None:
            raise ConfigError("--class: a translation run takes no class label")
        if self.source_data is None:
            self.source_data = build_dataset(self.source, "data" if self.direction == "a2b" else "data_b")
        size, gen = len(self.source_data), torch.Generator().manual_seed(seed or 0)
        idx = torch.randperm(size, generator=gen)[:n] if n <= size else torch.randint(size, (n,), generator=gen)
        return self.translate(torch.cat([self.source_data.get(chunk)[0] for chunk in idx.split(1024)]), batch)
