"""The built parts of a GAN run (kind ``gan``), made from its config in one fixed order.

The build order fixes how the seeded RNG is consumed (data, prior, G, D), so the same config always starts from the
same weights."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ganscape.config.schema import schema_for
from ganscape.config.validate import batch_norm_groups_fit, mlp_critic_batch_norm_fits, packed_shares_fit
from ganscape.data import BatchStream, Dataset, build_dataset, data_meta
from ganscape.metrics.protocol import check_ready
from ganscape.losses import Objective, build_objective
from ganscape.models import build_discriminator, build_generator
from ganscape.penalties import build_penalty
from ganscape.priors import Prior, build_prior
from ganscape.registry import ConfigError
from ganscape.runtime import resolve_device
from ganscape.sampling import GeneratorSampler
from ganscape.training.callbacks.core import eval_mode
from ganscape.training.optimizers import make_optimizer
from ganscape.training.precision import FP32, Precision, resolve_precision
from ganscape.training.schedules import build_schedule
from ganscape.training.schemes import build_scheme
from ganscape.training.wrappers import check_compile_layout, training_view
from ganscape.utils.images import Preview

log = logging.getLogger(__name__)
IN_DEVICE_LIMIT_BYTES = 2 << 30  # datasets below this are copied to the GPU once
PREVIEW_IMAGES = 64              # sample grid size
PREVIEW_POINTS = 2000            # points of a 2-D scatter preview
PREVIEW_SEED_OFFSET = 12345      # preview latents come from seed + this, on a side RNG stream


@dataclass
class GANParts:
    """Everything a GAN run is made of. ``G``/``D`` are in training mode."""

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
    scheme: Any
    schedule: Any
    precision: Precision = FP32
    train_G: Any = None  # G and D as training steps call them (``ganscape.training.wrappers``); G and D by default
    train_D: Any = None
    shard: tuple[int, int] = (0, 1)  # (rank, world size) in data-parallel training
    channels_last: bool = False      # image batches in NHWC memory format

    def __post_init__(self):
        self.train_G = self.G if self.train_G is None else self.train_G
        self.train_D = self.D if self.train_D is None else self.train_D

    # ----- what the trainer core and checkpoints see -----------------------------------------
    @property
    def kind(self) -> str:
        """Checkpoint kind: ``conditional`` when G takes labels, else ``gan``."""
        return "conditional" if self.conditional else "gan"

    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.G, "D": self.D, "prior": self.prior}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}

    def streams(self) -> dict[str, BatchStream]:
        return {"data": self.batches}

    def averaged_names(self) -> tuple[str, ...]:
        """Modules an EMA callback averages (sampling uses the average): G, and a prior with trained parameters
        (DeLiGAN's means and stds), which G's average is drawn from."""
        return ("G", "prior") if any(True for _ in self.prior.parameters()) else ("G",)

    def data_meta(self) -> dict[str, dict[str, Any]]:
        return {"data": data_meta(self.dataset)}

    # ----- what schemes use --------------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        """This process's share of the global ``train.batch_size`` (all of it in a single process)."""
        return self.config["train"]["batch_size"] // self.shard[1]

    @property
    def conditional(self) -> bool:
        return self.G.num_classes > 0

    def real_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This rank's share of the next real batch, on the device (NHWC when ``channels_last``)."""
        x, y = self.batches.next()
        x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, (None if y is None else y.to(self.device, non_blocking=True))

    def latent_batch(self, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Latents (n, dim) and, for conditional generators, conditions: uniformly drawn class ids (n,), or the
        attribute vectors (n, K) of random real samples (attributes are correlated; drawing them independently
        would ask for faces the data never shows). ``n`` defaults to this rank's batch; each rank draws from its own
        random stream."""
        n = n or self.batch_size
        z = self.prior.sample(n, self.device)
        y = None
        if self.conditional and "attribute_names" in self.dataset.info:
            y = self.dataset.y[torch.randint(len(self.dataset), (n,)).to(self.dataset.y.device)].to(self.device)
        elif self.conditional:
            y = torch.randint(self.dataset.num_classes, (n,), device=self.device)
        return z, y

    # ----- previews and sampling ---------------------------------------------------------------
    def preview(self, modules: dict[str, nn.Module]) -> Preview:
        """The preview image: an image grid or 2-D points over the modes, from fixed latents (seed +
        PREVIEW_SEED_OFFSET, side RNG), drawn by ``modules["G"]`` in eval mode. A class-conditional image grid has
        one column per class (column k: class k) when the classes fit in it, e.g. 6 rows of the 10 digits."""
        n = PREVIEW_IMAGES if self.dataset.is_image else PREVIEW_POINTS
        labels, nrow = None, None
        if self.conditional and "attribute_bank" in self.dataset.info:
            bank = self.dataset.info["attribute_bank"]
            labels = bank[torch.arange(n) % len(bank)].float().to(self.device)
        elif self.conditional:
            classes = self.dataset.num_classes
            if self.dataset.is_image and classes <= n:
                n, nrow = classes * (n // classes), classes
            labels = torch.arange(n, device=self.device) % classes
        sampler = self.sampler(modules, 0)
        with eval_mode([sampler.G]):
            samples = sampler.sample(n, seed=self.config["seed"] + PREVIEW_SEED_OFFSET, labels=labels)
        return Preview(samples, nrow=nrow, info=self.dataset.info)

    def sampler(self, modules: dict[str, nn.Module], step: int) -> GeneratorSampler:
        """The run as a sampler (for evaluation during training), drawing with ``modules["G"]`` from
        ``modules["prior"]`` (their EMA averages in ``trainer.sampling_modules()``)."""
        return GeneratorSampler(modules["G"], modules.get("prior", self.prior), self.config, step,
                                data_meta(self.dataset), self.device, self.kind)


def build_gan_parts(config: dict[str, Any]) -> GANParts:
    """Build every part of a GAN run; raises ConfigError before any training happens. In a multi-process run
    (torchrun) each rank builds the same parts, reads its own data shard and draws from its own random stream."""
    from ganscape.distributed.data_parallel import (average_gradients_of, ddp_wrapper, local_batch_size, rank_seed,
                                                    world)

    train = config["train"]
    device = resolve_device(config["device"])
    precision = Precision(resolve_precision(train["precision"], device), device)
    rank, size = world()
    local_batch_size(train["batch_size"], pack_of(config))
    if size > 1:  # each rank normalises its own share of the batch
        registries = schema_for("gan").registries()
        batch_norm_groups_fit(config, registries, ranks=size)
        mlp_critic_batch_norm_fits(config, registries, ranks=size)
        packed_shares_fit(config, registries, ranks=size)
    torch.manual_seed(config["seed"])
    dataset = build_dataset(config["data"])
    dataset.check_finite("data")
    if config["eval"]["every"]:
        check_ready(config["eval"], dataset.shape, kind=data_meta(dataset)["kind"])
    if device.type != "cpu":
        dataset.to_device(device, IN_DEVICE_LIMIT_BYTES)
    if train["batch_size"] > len(dataset):
        raise ConfigError(f"train.batch_size: {train['batch_size']} is larger than the dataset ({len(dataset)} samples)")
    host_to_gpu = device.type == "cuda" and data_device(dataset).type != "cuda"  # too large to live on the GPU
    batches = BatchStream(dataset, train["batch_size"], config["seed"], shard=(rank, size), prefetch=host_to_gpu,
                          pin=host_to_gpu)
    prior = build_prior(config["prior"]).to(device)
    G = build_generator(config["generator"], dataset.shape, prior.dim, dataset.num_classes).to(device)
    D = build_discriminator(config["discriminator"], dataset.shape, dataset.num_classes).to(device)
    channels_last = resolve_channels_last(train["channels_last"], dataset.is_image)
    check_compile_layout(train["compile"], channels_last, device.type)
    if channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    opt_g = make_optimizer(list(G.parameters()) + list(prior.parameters()), config["optim"]["g"], "optim.g")
    opt_d = make_optimizer(D.parameters(), config["optim"]["d"], "optim.d")
    penalty = build_penalty(config["penalty"])
    data_parallel = ddp_wrapper(device)
    if train["compile"]:
        # a study worker trains run after run in one process: compile each from scratch, or dynamo's per-function
        # recompile limit is reached after a few runs and it silently falls back to eager
        torch._dynamo.reset()
    train_G = training_view(G, "G", precision, train["compile"], data_parallel)
    train_D = training_view(D, "D", precision, False if penalty.double_backward else train["compile"], data_parallel)
    if train["compile"] and penalty.double_backward:
        log.info("train.compile: D stays uncompiled (penalty %s takes gradients of gradients, which compiled graphs "
                 "do not support)", config["penalty"]["name"])
    if size > 1:
        average_gradients_of(prior)
        torch.manual_seed(rank_seed(config["seed"], rank))
    return GANParts(config, device, dataset, batches, prior, G, D, build_objective(config["loss"]), penalty, opt_g,
                    opt_d, build_scheme(config["scheme"]), build_schedule(config["schedule"]), precision, train_G,
                    train_D, (rank, size), channels_last)


def data_device(dataset: Dataset) -> torch.device:
    """Where ``dataset``'s batches are made (one sample read)."""
    return dataset.get(torch.zeros(1, dtype=torch.long))[0].device


def pack_of(config: dict[str, Any]) -> int:
    """The run's PacGAN ``discriminator.pack`` (1 when not packed)."""
    from ganscape.models import DISCRIMINATORS

    return DISCRIMINATORS.shared_options(config["discriminator"])["pack"]


def resolve_channels_last(value: Any, images: bool) -> bool:
    """``train.channels_last``: ``true`` is NHWC for image runs; ``auto`` and ``false`` are NCHW on every device (on an
    H200 NHWC gave the shipped 32 and 64 px models no consistent gain, 0.8-1.3x of NCHW by model, and it cannot be
    compiled there: docs/performance.md)."""
    return value is True and images

