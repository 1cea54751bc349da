"""WGAN-GP gradient penalty (Gulrajani et al. 2017).

x_hat = x_real + a (x_fake - x_real), a ~ U(0, 1) per sample;
penalty = weight * E[(||grad_x_hat D(x_hat)||_2 - 1)^2], weight 10 in the paper. For a packed critic (PacGAN) each
group of m samples is one input: it shares one a, and the norm is taken over the group."""
from __future__ import annotations

import torch

from ganscape.penalties.base import PENALTIES, Penalty, gradient_norms, group_size
from ganscape.registry import NonNegative


class WGANGP(Penalty):
    double_backward = True

    def __init__(self, weight: float):
        self.weight = weight

    def __call__(self, critic, x_real, x_fake, y_real=None, y_fake=None):
        m = group_size(critic)
        alpha = torch.rand((x_real.shape[0] // m,) + (1,) * (x_real.dim() - 1), device=x_real.device)
        alpha = alpha.repeat_interleave(m, dim=0)
        x_hat = (x_real + alpha * (x_fake.detach() - x_real)).requires_grad_(True)
        norms = gradient_norms(critic(x_hat, y_real), x_hat, critic)
        return self.weight * ((norms - 1) ** 2).mean()


@PENALTIES.register("wgan_gp", "WGAN-GP: two-sided gradient penalty on real/fake interpolates",
    citation='Gulrajani et al. 2017, "Improved Training of Wasserstein GANs"', scores_gradient=True)
def wgan_gp(weight: NonNegative = 10.0):
    return WGANGP(weight)
