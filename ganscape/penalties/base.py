"""The penalty interface: an extra D loss term computed from the critic and the batches.

A penalty factory returns a callable ``penalty(critic, x_real, x_fake, y_real, y_fake) -> scalar tensor`` (already
weighted)."""
from __future__ import annotations

import torch

from ganscape.registry import Registry

PENALTIES = Registry("penalty")


def gradient_norms(scores: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Per-sample L2 norm (B,) of d(sum scores)/d inputs, keeping the graph for backprop."""
    (grad,) = torch.autograd.grad(scores.sum(), inputs, create_graph=True)
    return grad.reshape(grad.shape[0], -1).norm(2, dim=1)


@PENALTIES.register("none", "No penalty")
class NoPenalty:
    def __call__(self, critic, x_real, x_fake, y_real=None, y_fake=None):
        return None


def build_penalty(section: dict):
    return PENALTIES.build(section, "penalty")
