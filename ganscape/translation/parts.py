"""The built parts of a translation run (kind ``translation``, CycleGAN), in one fixed order.

Domain A is ``data``, domain B ``data_b``; the two are drawn by independent samplers (seeds
2*seed and 2*seed + 1), so pairs are unpaired even when both list the same images in order."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ganscape.data import BatchStream, Dataset, build_dataset, data_meta
from ganscape.registry import ConfigError
from ganscape.runtime import resolve_device
from ganscape.sampling import TranslationSampler
from ganscape.training.optimizers import make_optimizer
from ganscape.training.schedules import build_schedule
from ganscape.translation.models import PATCH_CRITICS, TRANSLATORS
from ganscape.translation.objective import TRANSLATION_OBJECTIVES
from ganscape.training.precision import FP32, Precision
from ganscape.utils.images import Preview

PREVIEW_COLUMNS = 8


@dataclass
class TranslationParts:
    config: dict[str, Any]
    device: torch.device
    data_a: Dataset
    data_b: Dataset
    batches_a: BatchStream
    batches_b: BatchStream
    G_ab: nn.Module
    G_ba: nn.Module
    D_a: nn.Module
    D_b: nn.Module
    objective: Any
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scheme: Any
    schedule: Any
    kind: str = "translation"
    precision: Precision = FP32  # translation runs train in float32 (validated)

    def modules(self) -> dict[str, nn.Module]:
        return {"G_ab": self.G_ab, "G_ba": self.G_ba, "D_a": self.D_a, "D_b": self.D_b}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}

    def streams(self) -> dict[str, BatchStream]:
        return {"data": self.batches_a, "data_b": self.batches_b}

    def averaged_names(self) -> tuple[str, ...]:
        return ("G_ab", "G_ba")

    def data_meta(self) -> dict[str, dict[str, Any]]:
        return {"data": data_meta(self.data_a), "data_b": data_meta(self.data_b)}

    def sampler(self, modules: dict[str, nn.Module], step: int) -> TranslationSampler:
        """The a -> b direction as a sampler (for evaluation during training)."""
        meta = data_meta(self.data_b)
        return TranslationSampler(modules["G_ab"], self.config["data"], self.config["data_b"], self.config, step, meta,
                                  tuple(self.data_a.shape), self.device, source_data=self.data_a)

    @torch.no_grad()
    def preview(self, modules: dict[str, nn.Module]) -> Preview:
        """Rows a, G_ab(a), G_ba(G_ab(a)), b, G_ba(b), G_ab(G_ba(b)) for the first images."""
        g_ab, g_ba = modules["G_ab"], modules["G_ba"]
        columns = torch.arange(min(PREVIEW_COLUMNS, len(self.data_a), len(self.data_b)))  # one width for all rows
        a = self.data_a.get(columns)[0].to(self.device)
        b = self.data_b.get(columns)[0].to(self.device)
        rows = [a, g_ab(a), g_ba(g_ab(a)), b, g_ba(b), g_ab(g_ba(b))]
        channels = max(r.shape[1] for r in rows)
        rows = [r.expand(-1, channels, -1, -1) if r.shape[1] == 1 else r for r in rows]
        return Preview(torch.cat(rows), nrow=len(a))


def image_shapes(data_a: Dataset, data_b: Dataset, lambda_identity: float) -> tuple[int, int, int]:
    """(C_a, C_b, S) of two image datasets of one square size, or a ConfigError."""
    for key, data in (("data", data_a), ("data_b", data_b)):
        if not data.is_image or data.shape[1] != data.shape[2]:
            raise ConfigError(f"{key}: CycleGAN needs square images, got samples of shape {data.shape}")
    if data_a.shape[1] != data_b.shape[1]:
        raise ConfigError(f"data_b.size: both domains must have one image size, got {data_a.shape[1]} and "
                          f"{data_b.shape[1]}")
    if lambda_identity > 0 and data_a.shape[0] != data_b.shape[0]:
        raise ConfigError(f"loss.lambda_identity: the identity loss needs both domains to have the same channels "
                          f"({data_a.shape[0]} vs {data_b.shape[0]}); set loss.lambda_identity=0")
    return data_a.shape[0], data_b.shape[0], data_a.shape[1]


def build_translators(config: dict[str, Any], c_a: int, c_b: int, size: int) -> tuple[nn.Module, nn.Module]:
    return (TRANSLATORS.build(config["generator"], "generator", channels_in=c_a, channels_out=c_b, size=size),
            TRANSLATORS.build(config["generator"], "generator", channels_in=c_b, channels_out=c_a, size=size))


def build_translation_parts(config: dict[str, Any]) -> TranslationParts:
    """Build every part; raises ConfigError before any training happens."""
    from ganscape.distributed import world

    if world()[1] > 1:
        raise ConfigError("kind: translation runs train in one process; multi-process training (torchrun) supports "
                          "kind: gan runs only")
    device = resolve_device(config["device"])
    torch.manual_seed(config["seed"])
    data_a, data_b = build_dataset(config["data"], "data"), build_dataset(config["data_b"], "data_b")
    for key, data in (("data", data_a), ("data_b", data_b)):
        data.check_finite(key)
    objective = TRANSLATION_OBJECTIVES.build(config["loss"], "loss")
    c_a, c_b, size = image_shapes(data_a, data_b, objective.lambda_identity)
    batch = config["train"]["batch_size"]
    if batch > min(len(data_a), len(data_b)):
        raise ConfigError(f"train.batch_size: {batch} is larger than a dataset ({len(data_a)}, {len(data_b)} samples)")
    g_ab, g_ba = (g.to(device) for g in build_translators(config, c_a, c_b, size))
    d_a = PATCH_CRITICS.build(config["discriminator"], "discriminator", channels=c_a, size=size).to(device)
    d_b = PATCH_CRITICS.build(config["discriminator"], "discriminator", channels=c_b, size=size).to(device)
    opt_g = make_optimizer(list(g_ab.parameters()) + list(g_ba.parameters()), config["optim"]["g"], "optim.g")
    opt_d = make_optimizer(list(d_a.parameters()) + list(d_b.parameters()), config["optim"]["d"], "optim.d")
    return TranslationParts(config, device, data_a, data_b, BatchStream(data_a, batch, 2 * config["seed"]),
                            BatchStream(data_b, batch, 2 * config["seed"] + 1), g_ab, g_ba, d_a, d_b, objective, opt_g,
                            opt_d, objective.scheme(), build_schedule(config["schedule"]))
