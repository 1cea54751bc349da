"""Exponential moving average of generator weights, used for sampling and evaluation."""
from __future__ import annotations

import copy

import torch
from torch import nn

from ganscape.training.callbacks.base import ORDER, Callback


class EMA(Callback):
    """After every training step ``shadow = decay * shadow + (1 - decay) * weights`` for each of
    the run's averaged modules (``parts.averaged_names()``: G, or both CycleGAN translators).

    Buffers (e.g. batch-norm running statistics) are copied, not averaged. The shadows are
    registered on the trainer (``trainer.averaged``), so previews and evaluation use them.
    """

    state_key = "ema"
    order = ORDER["ema"]

    def __init__(self, decay: float):
        self.decay = decay
        self.shadows: dict[str, nn.Module] = {}

    def on_attach(self, trainer) -> None:
        modules = trainer.parts.modules()
        for name in trainer.parts.averaged_names():
            self.shadows[name] = copy.deepcopy(modules[name]).eval().requires_grad_(False)
        trainer.averaged.update(self.shadows)

    @torch.no_grad()
    def on_step_end(self, trainer, step, out, logged, last) -> None:
        modules = trainer.parts.modules()
        for name, shadow in self.shadows.items():
            torch._foreach_lerp_(list(shadow.parameters()), [p.detach() for p in modules[name].parameters()],
                                 1.0 - self.decay)
            for s, b in zip(shadow.buffers(), modules[name].buffers()):
                s.copy_(b)

    def state_dict(self):
        return {name: shadow.state_dict() for name, shadow in self.shadows.items()}

    def load_state_dict(self, state) -> None:
        for name, shadow in self.shadows.items():
            shadow.load_state_dict(state[name])
