"""Zero-centred gradient penalties R1 and R2 (Mescheder et al. 2018).

R1 = gamma / 2 * E_real[||grad_x D(x)||^2]  (real samples; StyleGAN uses gamma = 10)
R2 = gamma / 2 * E_fake[||grad_x D(x)||^2]  (generated samples)

Lazy regularisation (Karras et al. 2020, StyleGAN2 section 3.1): with ``every`` = k > 1 the training scheme computes
the penalty only on D steps whose 0-based D-step counter is a multiple of k, and adds k times it to that step's loss
(StyleGAN2 uses k = 16), so the average weight per step stays gamma / 2. The counter lives in the scheme's checkpoint
state (``ganscape.training.schemes.lazy``). Calling the penalty always gives the plain, unscaled value."""
from __future__ import annotations

from ganscape.penalties.base import PENALTIES, Penalty, gradient_norms
from ganscape.registry import NonNegative, Positive


class ZeroCentred(Penalty):
    double_backward = True

    def __init__(self, gamma: float, on_real: bool, every: int = 1):
        self.gamma, self.on_real, self.every = gamma, on_real, every

    def __call__(self, critic, x_real, x_fake, y_real=None, y_fake=None):
        x, y = (x_real, y_real) if self.on_real else (x_fake, y_fake)
        x = x.detach().requires_grad_(True)
        norms = gradient_norms(critic(x, y), x, critic)
        return self.gamma / 2 * (norms ** 2).mean()


@PENALTIES.register("r1", "R1: gamma/2 * E||grad D(x_real)||^2 (zero-centred, on real data); every=k: lazy, each k-th D step x k",
    citation='Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?"; lazy: Karras et al. 2020 (StyleGAN2)',
    scores_gradient=True)
def r1(gamma: NonNegative = 10.0, every: Positive = 1):
    return ZeroCentred(gamma, on_real=True, every=every)


@PENALTIES.register("r2", "R2: gamma/2 * E||grad D(x_fake)||^2 (zero-centred, on generated data); every=k: lazy",
    citation='Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?"; lazy: Karras et al. 2020 (StyleGAN2)',
    scores_gradient=True)
def r2(gamma: NonNegative = 10.0, every: Positive = 1):
    return ZeroCentred(gamma, on_real=False, every=every)
