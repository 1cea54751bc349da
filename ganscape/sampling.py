"""Samplers: a trained run seen as "something that draws samples", for every run kind, so that ``sample``, ``eval``,
analysis, evaluation during training and studies work alike on all of them.

- ``GeneratorSampler``: a generator (eval mode) and its latent prior; ``sample(n)`` draws G(z) for z from the prior,
  with labels for conditional generators. With ``batch_stats`` = B its batch norm layers normalise each chunk of B
  samples by the chunk's own statistics, as TensorFlow codes that sample in training mode do (PacGAN's Table 3).
- ``TranslationSampler``: one direction of a CycleGAN; ``sample(n)`` translates n images of the source domain, so
  metrics compare translations with the target domain.
``reference`` is the data section samples are compared with; ``data_meta`` describes their data."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence, TypeVar

import torch
from torch import nn

from ganscape.registry import ConfigError
from ganscape.runtime import noise_seed, side_rng

T = TypeVar("T")


@dataclass
class GeneratorSampler:
    G: nn.Module
    prior: nn.Module
    config: dict[str, Any]
    step: int
    data_meta: dict[str, Any]
    device: torch.device
    kind: str = "gan"
    batch_stats: int = 0  # 0: batch norm uses its running statistics; B: each chunk of B samples its own statistics
    weights: str = "raw"  # "ema": G and its prior are the run's moving average of the weights

    @property
    def num_classes(self) -> int:
        return self.G.num_classes

    @property
    def reference(self) -> dict[str, Any]:
        return self.config["data"]

    @property
    def attribute_names(self) -> list[str]:
        """Names of the attributes an attribute-conditional G takes (empty for class ids or none)."""
        names = self.data_meta.get("info", {}).get("attribute_names", "")
        return names.split(",") if names and self.num_classes else []

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = 0, labels: torch.Tensor | int | dict[str, int] | None = None,
               batch: int = 256, part: tuple[int, int] = (0, 1)) -> torch.Tensor:
        """``n`` samples (n, *shape) on a side RNG stream of ``seed`` (the global one if None). ``labels`` for a
        conditional G: a class id or (n,) ids (default: uniform classes); for an attribute-conditional G, (n, K)
        vectors or {attribute name: 0|1} with the other attributes drawn from real samples' vectors. ``part`` (i, k):
        only the i-th of k contiguous shares of the n samples (``share``), the same values as in the whole; an empty
        share (fewer chunks than shares) is (0, *shape)."""
        return joined(list(self.stream(n, seed, labels, batch, part)), self.data_meta["shape"], self.device)

    @torch.no_grad()
    def stream(self, n: int, seed: int | None = 0, labels: torch.Tensor | int | dict[str, int] | None = None,
               batch: int = 256, part: tuple[int, int] = (0, 1)) -> Iterator[torch.Tensor]:
        """``sample``'s samples in chunks of ``batch`` (the same values): latents and labels are drawn at once,
        the generator runs chunk by chunk, so n can exceed what fits in memory as images. With ``batch_stats`` the
        chunks are of ``batch_stats`` samples instead, each normalised by its own statistics; the last one is the
        last ``batch_stats`` latents, of which the new ones are kept, so every sample is drawn in a full chunk (n
        below ``batch_stats``: one chunk of n). ``part``: the generator runs on that share's chunks alone."""
        size = self.batch_stats or batch
        with side_rng(seed, self.device):
            z, y = self.prior.sample(n, self.device), self.labels(n, labels)
            for i in share(range(0, n, size), part):
                start = max(0, min(i, n - size)) if self.batch_stats else i
                with batch_statistics(self.G, bool(self.batch_stats)):
                    x = self.G(z[start:i + size].to(self.device), None if y is None else y[start:i + size],
                               **self.noise(seed, start, min(n, i + size)))
                yield x[i - start:]

    def noise(self, seed: int | None, start: int, stop: int) -> dict[str, Any]:
        """``{"noise": ...}`` for images start..stop-1 of ``seed`` when G takes noise inputs (StyleGAN): image i's
        noise comes from its own stream (``noise_seed(seed, i)``), so an image does not depend on the batch it is
        drawn in; ``{}`` (G draws its own) for other generators and for seed None."""
        if seed is None or not hasattr(self.G, "draw_noise"):
            return {}
        return {"noise": self.G.draw_noise([noise_seed(seed, i) for i in range(start, stop)], self.device)}

    def labels(self, n: int, labels: torch.Tensor | int | dict[str, int] | None) -> torch.Tensor | None:
        if not self.num_classes:
            if isinstance(labels, dict):
                raise ConfigError("--attr: this generator is unconditional; it takes no attributes")
            if labels is not None:
                raise ConfigError("--class: this generator is unconditional; it takes no class label")
            return None
        if self.attribute_names:
            return self.attribute_vectors(n, labels)
        if isinstance(labels, dict):
            raise ConfigError("--attr: this run is conditioned on class ids, not attributes; use --class K")
        if labels is None:
            return torch.randint(self.num_classes, (n,), device=self.device)
        if isinstance(labels, int) and not 0 <= labels < self.num_classes:
            raise ConfigError(f"--class: {labels} is not a class of this run; valid: 0..{self.num_classes - 1}")
        return torch.full((n,), labels, device=self.device) if isinstance(labels, int) else self.class_ids(n, labels)

    def class_ids(self, n: int, labels: torch.Tensor) -> torch.Tensor:
        """A tensor of class ids given for ``n`` samples, checked here: a bad one would fail inside G's embedding
        (on a GPU as a device-side assert that ends the process's CUDA context)."""
        if not isinstance(labels, torch.Tensor):
            raise ConfigError(f"labels: expected a class id (int) or a tensor of {n} class ids, got "
                              f"{type(labels).__name__}")
        if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
            raise ConfigError(f"labels: class ids must be integers, got a {labels.dtype} tensor")
        if tuple(labels.shape) != (n,):
            raise ConfigError(f"labels: expected shape ({n},), one class id per sample, got {tuple(labels.shape)}")
        if n and not (0 <= int(labels.min()) and int(labels.max()) < self.num_classes):
            bad = labels[(labels < 0) | (labels >= self.num_classes)][0]
            raise ConfigError(f"labels: {int(bad)} is not a class of this run; valid: 0..{self.num_classes - 1}")
        return labels.long().to(self.device)

    def attribute_vectors(self, n: int, fixed: torch.Tensor | int | dict[str, int] | None) -> torch.Tensor:
        """(n, K) float attribute vectors: given ones, or rows of the run's bank of real vectors with ``fixed``
        attributes set."""
        names = self.attribute_names
        if isinstance(fixed, torch.Tensor):
            if tuple(fixed.shape) != (n, len(names)):
                raise ConfigError(f"labels: expected shape ({n}, {len(names)}), one vector of the run's attributes "
                                  f"({', '.join(names)}) per sample, got {tuple(fixed.shape)}")
            return fixed.float().to(self.device)
        if isinstance(fixed, int):
            raise ConfigError(f"--class: this run is conditioned on {len(names)} attributes, not a class; use "
                              "--attr NAME=0|1,... (e.g. --attr Smiling=1)")
        bank = self.data_meta["info"]["attribute_bank"]
        rows = bank[torch.randint(len(bank), (n,))].float()
        for name, value in (fixed or {}).items():
            if name not in names:
                raise ConfigError(f"--attr: unknown attribute {name!r}; valid: {', '.join(names)}")
            if value not in (0, 1):
                raise ConfigError(f"--attr: {name}={value!r}; an attribute is 0 or 1")
            rows[:, names.index(name)] = float(value)
        return rows.to(self.device)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None, batch: int = 256,
               noise_seed: int | None = None) -> torch.Tensor:
        """G(z, y) in chunks, on the generator's device. ``noise_seed``: every image gets the same noise inputs (a
        StyleGAN's), those of image 0 of that seed, so images differ by their latents alone (interpolation)."""
        shared = self.noise(noise_seed, 0, 1)
        return torch.cat([self.G(z[i:i + batch].to(self.device), None if y is None else y[i:i + batch], **shared)
                          for i in range(0, len(z), batch)])


def joined(chunks: list[torch.Tensor], shape: list[int], device: torch.device) -> torch.Tensor:
    """The chunks of samples as one tensor; (0, *shape) for none (an empty share)."""
    return torch.cat(chunks) if chunks else torch.empty((0, *shape), device=device)


def share(chunks: Sequence[T], part: tuple[int, int]) -> Sequence[T]:
    """The ``i``-th of ``k`` contiguous, near-equal runs of ``chunks``, for ``part`` = (i, k): evaluation under
    torchrun has rank i of k generate only these, and the ranks' shares joined in rank order are the whole."""
    index, count = part
    return chunks[len(chunks) * index // count:len(chunks) * (index + 1) // count]


def batch_norm_layers(module: nn.Module) -> list[nn.Module]:
    """The batch norm layers of ``module`` (per-slot ones included)."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextlib.contextmanager
def batch_statistics(G: nn.Module, active: bool = True):
    """Inside the block (when ``active``) G's batch norm layers normalise each call's batch by its own statistics
    (training mode; a per-slot norm, ``bn_groups``, over the whole batch: our choice, a chunk being one draw); their
    running statistics, modes and slot groups are restored after it, also when G raises."""
    layers = batch_norm_layers(G) if active else []
    saved = [(m, m.training, getattr(m, "groups", None), {k: b.clone() for k, b in m.named_buffers(recurse=False)})
             for m in layers]
    for m in layers:
        m.train()
        if hasattr(m, "groups"):
            m.groups = 1
    try:
        yield
    finally:
        for m, training, groups, buffers in saved:
            m.train(training)
            if groups is not None:
                m.groups = groups
            for name, value in buffers.items():
                getattr(m, name).copy_(value)


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
    def stream(self, n: int, seed: int | None = 0, labels: Any = None, batch: int = 64,
               part: tuple[int, int] = (0, 1)) -> Iterator[torch.Tensor]:
        """``sample``'s translations in chunks of ``batch`` (the same values): source images are read chunk by chunk,
        so n can exceed what fits in memory as images. ``part``: that share's chunks alone (``share``)."""
        for chunk in share(self.source_indices(n, seed, labels).split(batch), part):
            yield self.G(self.source_data.get(chunk)[0].to(self.device))

    @torch.no_grad()
    def translate(self, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
        """(B, *in_shape) in [-1, 1] -> (B, *out_shape)."""
        return torch.cat([self.G(x[i:i + batch].to(self.device)) for i in range(0, len(x), batch)])

    def sample(self, n: int, seed: int | None = 0, labels: Any = None, batch: int = 64,
               part: tuple[int, int] = (0, 1)) -> torch.Tensor:
        """Translations of ``n`` source images drawn at random (seeded; with replacement only
        when the source has fewer than n); ``part`` as in ``GeneratorSampler.sample``."""
        return joined(list(self.stream(n, seed, labels, batch, part)), self.data_meta["shape"], self.device)

    def source_indices(self, n: int, seed: int | None, labels: Any) -> torch.Tensor:
        """(n,) indices of the source images ``sample`` translates."""
        from ganscape.data import build_dataset

        if labels is not None:
            option = "--attr" if isinstance(labels, dict) else "--class"
            raise ConfigError(f"{option}: a translation run takes no class or attribute labels")
        if self.source_data is None:
            self.source_data = build_dataset(self.source, "data" if self.direction == "a2b" else "data_b")
        size, gen = len(self.source_data), torch.Generator().manual_seed(seed or 0)
        return torch.randperm(size, generator=gen)[:n] if n <= size else torch.randint(size, (n,), generator=gen)
