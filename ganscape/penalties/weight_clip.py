"""WGAN weight clipping (Arjovsky et al. 2017): after every critic step, each critic parameter is clamped to
[-c, c], with c = 0.01 in the paper. It bounds the critic's Lipschitz constant crudely; the WGAN-GP paper
(Gulrajani et al. 2017) shows it under-uses the critic's capacity, which the toy tables of docs/results.md show
beside the gradient penalty. It adds no loss term.

The clamp bounds the weights the critic computes with. A layer with an equalised learning rate (StyleGAN's) stores
N(0, 1) weights and multiplies them by a constant at run time (``runtime_scales``): clamping the stored weights to c
bounded the used ones at c times that constant, a shrink that compounds layer by layer (the 16 px StyleGAN critic's
scores spread by 5e-13 after one step, below the optimisers' epsilon, 1.4e-8 with the used weights clamped); its
stored weights are clamped to c over that constant instead. Without normalisation a deep critic clipped at 0.01 stays
weak all the same (the WGAN paper's DCGAN critic has batch norm)."""
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
        for module in critic.modules():
            scales = module.runtime_scales() if hasattr(module, "runtime_scales") else {}
            for name, param in module.named_parameters(recurse=False):
                bound = self.c / scales.get(name, 1.0)
                param.clamp_(-bound, bound)


@PENALTIES.register("weight_clip",
                    "WGAN weight clipping: every weight the critic uses clamped to [-c, c] after each step",
                    citation='Arjovsky et al. 2017, "Wasserstein Generative Adversarial Networks"')
def weight_clip(c: Annotated[float, Minimum(1e-12)] = 0.01):
    return WeightClip(c)
