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


def plus(total: torch.Tensor, term: torch.Tensor | None) -> torch.Tensor:
    """``total + term``, or ``total`` when there is no such term (a penalty or regulariser switched off)."""
    return total if term is None else total + term


def side_of(parts, side: str) -> tuple[torch.optim.Optimizer, torch.nn.Module]:
    """(optimizer, network) of side ``d`` (D) or ``g`` (G; its optimizer also holds the prior's parameters)."""
    return (parts.opt_d, parts.D) if side == "d" else (parts.opt_g, parts.G)


def update(parts, side: str, loss: torch.Tensor, measure_norm: bool = False) -> torch.Tensor | None:
    """One optimiser step of side ``g`` (G and the prior) or ``d`` on ``loss``, through the run's precision (loss
    scaling under fp16); returns the network's gradient norm (unscaled) when ``measure_norm``, else None."""
    set_gradients(parts, side, loss)
    return optimizer_step(parts, side, measure_norm)


def set_gradients(parts, side: str, loss: torch.Tensor, own_only: bool = False, retain_graph: bool = False) -> None:
    """Set side ``side``'s gradients to those of ``loss``. ``own_only``: accumulate into that side's parameters only,
    leaving the other side's gradients as they are (the ``simultaneous`` scheme backpropagates both losses first)."""
    optimizer, _ = side_of(parts, side)
    optimizer.zero_grad(set_to_none=True)
    params = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad] if own_only else None
    parts.precision.backward(loss, side, inputs=params, retain_graph=retain_graph)


def optimizer_step(parts, side: str, measure_norm: bool = False) -> torch.Tensor | None:
    """The optimiser step of side ``g`` or ``d`` on the gradients it holds (see ``update``)."""
    optimizer, network = side_of(parts, side)
    norm = None
    if measure_norm:
        parts.precision.unscale(optimizer, side)
        norm = parts.precision.logged_norm(grad_norm(network), side)
    parts.precision.step(optimizer, side)
    return norm


def build_scheme(section: dict):
    return SCHEMES.build(section, "scheme")
