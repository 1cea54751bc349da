"""Hinge loss (Lim & Ye 2017; Miyato et al. 2018).

D loss: E[relu(1 - r)] + E[relu(1 + f)];  G loss: -E[f]."""
from __future__ import annotations

import torch.nn.functional as F

from ganscape.losses.base import OBJECTIVES, Objective


@OBJECTIVES.register("hinge", "Hinge loss (SNGAN / BigGAN)",
    citation='Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018')
class Hinge(Objective):
    def d_loss(self, real, fake):
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()

    def g_loss(self, fake, real=None):
        return -fake.mean()
