"""Optimisers from an ``optim.g`` / ``optim.d`` config section (Adam with ``lr`` and ``betas``)."""
from __future__ import annotations

from typing import Any

import torch


def make_optimizer(params, section: dict[str, Any]) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=section["lr"], betas=tuple(section["betas"]))


def set_learning_rates(optimizers: dict[str, torch.optim.Optimizer], config: dict[str, Any], factor: float) -> None:
    """lr of every group of optimiser ``name`` = ``config["optim"][name]["lr"] * factor``."""
    for name, opt in optimizers.items():
        lr = config["optim"][name]["lr"] * factor
        for group in opt.param_groups:
            group["lr"] = lr
