"""DRAGAN gradient penalty (Kodali et al. 2017), in compare_gan's form.

x_hat = x_real + std(x_real) * (u - 0.5), u ~ U[0, 1) elementwise, std over the whole batch tensor (population std);
penalty = weight * E[(||grad_x_hat D(x_hat)||_2 - 1)^2]. The penalty keeps D smooth around the data manifold, where
mode collapse starts."""
from __future__ import annotations

import torch

from ganscape.penalties.base import PENALTIES, Penalty, gradient_norms
from ganscape.registry import NonNegative


class DRAGAN(Penalty):
    double_backward = True

    def __init__(self, weight: float):
        self.weight = weight

    def __call__(self, critic, x_real, x_fake, y_real=None, y_fake=None):
        x = x_real.detach()
        x_hat = (x + x.std(unbiased=False) * (torch.rand_like(x_real) - 0.5)).requires_grad_(True)
        norms = gradient_norms(critic(x_hat, y_real), x_hat, critic)
        return self.weight * ((norms - 1) ** 2).mean()


@PENALTIES.register("dragan", "DRAGAN: gradient-norm penalty on noise-perturbed real samples",
    citation='Kodali et al. 2017, "On Convergence and Stability of GANs"', scores_gradient=True)
def dragan(weight: NonNegative = 10.0):
    return DRAGAN(weight)
