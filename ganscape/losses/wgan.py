"""Wasserstein GAN (Arjovsky et al. 2017): D maximises E[D(real)] - E[D(fake)].

D loss: E[f] - E[r]; G loss: -E[f]. The critic must be kept Lipschitz by a penalty (e.g. ``penalty.name=wgan_gp``)
or spectral norm; this loss does not clip weights."""
from __future__ import annotations

from ganscape.losses.base import OBJECTIVES, Objective


@OBJECTIVES.register("wgan", "Wasserstein loss (pair with wgan_gp or spectral norm)",
    citation='Arjovsky et al. 2017, "Wasserstein GAN"')
class Wasserstein(Objective):
    def d_loss(self, real, fake):
        return fake.mean() - real.mean()

    def g_loss(self, fake, real=None):
        return -fake.mean()
