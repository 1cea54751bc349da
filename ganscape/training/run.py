"""Everything one training run is made of, built from its config."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ganscape.data import BatchStream, Dataset, TensorDataset, build_dataset
from ganscape.losses import Objective, build_objective
from ganscape.models import build_discriminator, build_generator
from ganscape.penalties import build_penalty
from ganscape.priors import Prior, build_prior
from ganscape.training.ema import EMA

IN_DEVICE_LIMIT_BYTES = 2 << 30  # datasets below this are copied to the GPU once


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from ganscape.registry import ConfigError
        raise ConfigError("device: 'cuda' requested but no CUDA device is available; use device=auto or cpu")
    return torch.device(name)


@dataclass
class GANRun:
    """The parts of a run. ``G``/``D`` are in training mode; ``ema`` may be None."""

    config: dict[str, Any]
    device: torch.device
    dataset: Dataset
    batches: BatchStream
    prior: Prior
    G: nn.Module
    D: nn.Module
    objective: Objective
    penalty: Any
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    ema: EMA | None
    extras: dict[str, Any] = field(default_factory=dict)
    shard: tuple[int, int] = (0, 1)  # (rank, world size) in data-parallel training

    def local(self, t: torch.Tensor | None) -> torch.Tensor | None:
        """This rank's slice of a global batch (the whole batch in a single process)."""
        rank, size = self.shard
        if size == 1 or t is None:
            return t
        rows = t.shape[0] // size
        return t[rank * rows:(rank + 1) * rows]

    @property
    def batch_size(self) -> int:
        return self.config["train"]["batch_size"]

    @property
    def conditional(self) -> bool:
        return getattr(self.G, "num_classes", 0) > 0

    def real_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, y = self.batches.next()
        x, y = self.local(x), self.local(y)
        return x.to(self.device, non_blocking=True), (None if y is None else y.to(self.device, non_blocking=True))

    def latent_batch(self, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Latents (n, dim) and, for conditional generators, uniformly drawn labels (n,)."""
        n = n or self.batch_size
        z = self.prior.sample(n, self.device)
        y = torch.randint(self.dataset.num_classes, (n,), device=self.device) if self.conditional else None
        return self.local(z), self.local(y)

    def sampling_generator(self) -> nn.Module:
        """The EMA generator when EMA is on, else G."""
        return self.ema.shadow if self.ema is not None else self.G


def make_adam(params, section: dict[str, Any]) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=section["lr"], betas=tuple(section["betas"]))


def build_models(config: dict[str, Any], dataset: Dataset, device: torch.device):
    """Prior, G and D for a dataset (also used to rebuild a run for sampling)."""
    prior = build_prior(config["prior"]).to(device)
    G = build_generator(config["generator"], dataset.shape, prior.dim, dataset.num_classes).to(device)
    D = build_discriminator(config["discriminator"], dataset.shape, dataset.num_classes).to(device)
    return prior, G, D


def build_run(config: dict[str, Any]) -> GANRun:
    """Build every part of a run; raises ConfigError before any training happens."""
    device = resolve_device(config["device"])
    torch.manual_seed(config["seed"])
    dataset = build_dataset(config["data"])
    if isinstance(dataset, TensorDataset) and device.type != "cpu" and dataset.x.numel() * 4 < IN_DEVICE_LIMIT_BYTES:
        dataset.x = dataset.x.to(device)
        dataset.y = None if dataset.y is None else dataset.y.to(device)
    batch_size = config["train"]["batch_size"]
    if batch_size > len(dataset):
        from ganscape.registry import ConfigError
        raise ConfigError(f"train.batch_size: {batch_size} is larger than the dataset ({len(dataset)} samples)")
    batches = BatchStream(dataset, batch_size, config["seed"])
    prior, G, D = build_models(config, dataset, device)
    opt_g = make_adam(list(G.parameters()) + list(prior.parameters()), config["optim"]["g"])
    opt_d = make_adam(D.parameters(), config["optim"]["d"])
    decay = config["train"]["ema_decay"]
    ema = EMA(G, decay) if decay > 0 else None
    return GANRun(config, device, dataset, batches, prior, G, D, build_objective(config["loss"]),
                  build_penalty(config["penalty"]), opt_g, opt_d, ema)
