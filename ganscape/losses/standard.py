"""The original GAN objective (Goodfellow et al. 2014) in its two generator forms.

With s = sigmoid and logits r = D(x_real), f = D(G(z)):
  D:  -E[log s(r)] - E[log(1 - s(f))]      (binary cross-entropy)
  G minimax:          E[log(1 - s(f))]      (saturates when D wins)
  G non-saturating:  -E[log s(f)]
Computed with softplus for stability: -log s(x) = softplus(-x), -log(1 - s(x)) = softplus(x)."""
from __future__ import annotations

import torch.nn.functional as F

from ganscape.losses.base import OBJECTIVES, Objective


class BCEDiscriminatorLoss(Objective):
    def d_loss(self, real, fake):
        return F.softplus(-real).mean() + F.softplus(fake).mean()


@OBJECTIVES.register("minimax", "Original minimax GAN: G minimises E[log(1 - D(G(z)))]",
    citation='Goodfellow et al. 2014, "Generative Adversarial Nets"')
class Minimax(BCEDiscriminatorLoss):
    def g_loss(self, fake, real=None):
        return -F.softplus(fake).mean()


@OBJECTIVES.register("nonsaturating", "Non-saturating GAN: G minimises -E[log D(G(z))]",
    citation='Goodfellow et al. 2014, "Generative Adversarial Nets"')
class NonSaturating(BCEDiscriminatorLoss):
    def g_loss(self, fake, real=None):
        return F.softplus(-fake).mean()
