"""Optimisers, registered by name, built from an ``optim.g`` / ``optim.d`` config section.

``optim.d: {name: rmsprop, lr: 5.0e-5}`` selects RMSProp for the discriminator, as the WGAN paper trains its
critic; a run config that names none gets Adam (the default ``name`` of ``optim.g`` and ``optim.d``)."""
from __future__ import annotations

from typing import Annotated, Any

import torch

from ganscape.registry import Maximum, Minimum, NonNegative, Registry

OPTIMIZERS = Registry("optimizer", context_args=("params",))


@OPTIMIZERS.register("adam", "Adam (betas = (beta1, beta2); GANs use beta1 0.5 or 0)",
    citation='Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization"')
def adam(params, lr: float = 2e-4, betas: list[float] = (0.5, 0.999)) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=tuple(float(b) for b in betas))  # [0, 0.9] from YAML: ints


@OPTIMIZERS.register("rmsprop", "RMSProp (PyTorch's: smoothing alpha, no centring), the WGAN critic's optimiser",
    citation='Tieleman & Hinton 2012, lecture 6.5; Arjovsky et al. 2017 use it with lr 5e-5')
def rmsprop(params, lr: float = 5e-5, alpha: Annotated[float, Minimum(0.0), Maximum(1.0, strict=True)] = 0.99,
            momentum: NonNegative = 0.0) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=lr, alpha=alpha, momentum=momentum)


@OPTIMIZERS.register("sgd", "Stochastic gradient descent with optional momentum", citation="Robbins & Monro 1951")
def sgd(params, lr: float = 1e-2, momentum: NonNegative = 0.0) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum)


def make_optimizer(params, section: dict[str, Any], key: str = "optim") -> torch.optim.Optimizer:
    return OPTIMIZERS.build(section, key, params=list(params))


def set_learning_rates(optimizers: dict[str, torch.optim.Optimizer], config: dict[str, Any], factor: float) -> None:
    """lr of every group of optimiser ``name`` = ``config["optim"][name]``'s lr * ``factor``."""
    for name, opt in optimizers.items():
        lr = OPTIMIZERS.effective(config["optim"][name], "lr") * factor
        for group in opt.param_groups:
            group["lr"] = lr
