"""Least-squares GAN (Mao et al. 2017), 0-1 coding (a=0, b=1, c=1).

D loss: 0.5 E[(r - 1)^2] + 0.5 E[f^2];  G loss: 0.5 E[(f - 1)^2]."""
from __future__ import annotations

from ganscape.losses.base import OBJECTIVES, Objective


@OBJECTIVES.register("least_squares", "Least-squares GAN (LSGAN, 0-1 targets)",
    citation='Mao et al. 2017, "Least Squares Generative Adversarial Networks"')
class LeastSquares(Objective):
    def d_loss(self, real, fake):
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake ** 2).mean()

    def g_loss(self, fake, real=None):
        return 0.5 * ((fake - 1) ** 2).mean()
