"""Training schemes: what one training step does with the built parts of a run. A scheme factory returns a
``Scheme`` (``ganscape.interfaces.Scheme``)."""
from __future__ import annotations

import torch

from ganscape.registry import Registry

SCHEMES = Registry("scheme")


class Scheme:
    def step(self, parts, log: bool) -> dict[str, torch.Tensor]:
        """One training step; returns detached scalar tensors to log (at least ``loss_d`` and ``loss_g``). When ``log``
        is true it may add costlier diagnostics (gradient norms). It must not call ``.item()`` (no GPU sync)."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Scheme-specific state for checkpoints, handed back to ``load_state_dict`` on resume."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned."""


def grad_norm(module: torch.nn.Module) -> torch.Tensor:
    """Global L2 norm of a module's gradients (0 when it has none)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def update(parts, side: str, loss: torch.Tensor, measure_norm: bool = False) -> torch.Tensor | None:
    """One optimiser step of side ``g`` (G and the prior) or ``d`` on ``loss``, through the run's precision (loss
    scaling under fp16); returns the network's gradient norm (unscaled) when ``measure_norm``, else None."""
    optimizer = parts.opt_d if side == "d" else parts.opt_g
    optimizer.zero_grad(set_to_none=True)
    parts.precision.backward(loss, side)
    return optimizer_step(parts, side, measure_norm)


def optimizer_step(parts, side: str, measure_norm: bool = False) -> torch.Tensor | None:
    """The optimiser step of side ``g`` or ``d`` on the gradients it holds (see ``update``)."""
    optimizer, network = (parts.opt_d, parts.D) if side == "d" else (parts.opt_g, parts.G)
    norm = None
    if measure_norm:
        parts.precision.unscale(optimizer, side)
        norm = parts.precision.logged_norm(grad_norm(network), side)
    parts.precision.step(optimizer, side)
    return norm


def build_scheme(section: dict):
    return SCHEMES.build(section, "scheme")
