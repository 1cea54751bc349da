"""WGAN weight clipping (Arjovsky et al. 2017): after every critic step, each critic parameter is clamped to
[-c, c], with c = 0.01 in the paper. It bounds the critic's Lipschitz constant crudely; the WGAN-GP paper
(Gulrajani et al. 2017) shows it under-uses the critic's capacity, which the toy tables of docs/results.md show
beside the gradient penalty. It adds no loss term."""
from __future__ import annotations

from typing import Annotated

import torch

from ganscape.penalties.base import PENALTIES, Penalty
from ganscape.registry import Minimum


class WeightClip(Penalty):
    def __init__(self, c: float):
        self.c = c

    @torch.no_grad()
    def after_critic_step(self, critic: torch.nn.Module) -> None:
        for param in critic.parameters():
            param.clamp_(-self.c, self.c)


@PENALTIES.register("weight_clip", "WGAN weight clipping: every critic parameter clamped to [-c, c] after each step",
    citation='Arjovsky et al. 2017, "Wasserstein Generative Adversarial Networks"')
def weight_clip(c: Annotated[float, Minimum(1e-12)] = 0.01):
    return WeightClip(c)
