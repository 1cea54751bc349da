"""Zero-centred gradient penalties R1 and R2 (Mescheder et al. 2018).

R1 = gamma / 2 * E_real[||grad_x D(x)||^2]  (real samples; StyleGAN uses gamma = 10)
R2 = gamma / 2 * E_fake[||grad_x D(x)||^2]  (generated samples)"""
from __future__ import annotations

from ganscape.penalties.base import PENALTIES, gradient_norms
from ganscape.registry import NonNegative


class ZeroCentred:
    def __init__(self, gamma: float, on_real: bool):
        self.gamma, self.on_real = gamma, on_real

    def __call__(self, critic, x_real, x_fake, y_real=None, y_fake=None):
        x, y = (x_real, y_real) if self.on_real else (x_fake, y_fake)
        x = x.detach().requires_grad_(True)
        norms = gradient_norms(critic(x, y), x)
        return self.gamma / 2 * (norms ** 2).mean()


@PENALTIES.register("r1", "R1: gamma/2 * E||grad D(x_real)||^2 (zero-centred, on real data)",
    citation='Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?"')
def r1(gamma: NonNegative = 10.0):
    return ZeroCentred(gamma, on_real=True)


@PENALTIES.register("r2", "R2: gamma/2 * E||grad D(x_fake)||^2 (zero-centred, on generated data)",
    citation='Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?"')
def r2(gamma: NonNegative = 10.0):
    return ZeroCentred(gamma, on_real=False)
