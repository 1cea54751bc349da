"""Relativistic objectives (Jolicoeur-Martineau 2018), as in AlexiaJM/RelativisticGAN.

With critic logits r = C(x_real), f = C(x_fake), BCE(x, 1) = E[softplus(-x)] and BCE(x, 0) = E[softplus(x)] (binary
cross-entropy on logits):

| name     | D loss                                               | G loss                                               |
|----------|------------------------------------------------------|------------------------------------------------------|
| rsgan    | BCE(r - f, 1)                                        | BCE(f - r, 1)                                        |
| rasgan   | [BCE(r - E f, 1) + BCE(f - E r, 0)] / 2              | [BCE(r - E f, 0) + BCE(f - E r, 1)] / 2              |
| ralsgan  | [E(r - E f - 1)^2 + E(f - E r + 1)^2] / 2            | [E(r - E f + 1)^2 + E(f - E r - 1)^2] / 2            |
| rahinge  | [E relu(1 - (r - E f)) + E relu(1 + (f - E r))] / 2  | [E relu(1 + (r - E f)) + E relu(1 - (f - E r))] / 2  |

RSGAN pairs real sample i with fake sample i. The generator loss needs D(real), so every objective here sets
``uses_real_in_g``: the alternating scheme scores a fresh real batch in the G step (with D frozen; the
simultaneous scheme reuses the D(real) of its one pass), and gradients reach G through f only."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ganscape.losses.base import OBJECTIVES, Objective


def bce_logits(x: torch.Tensor, target: int) -> torch.Tensor:
    """Mean binary cross-entropy of logits ``x`` (B,) against a constant 0/1 target."""
    return F.softplus(-x).mean() if target == 1 else F.softplus(x).mean()


class Relativistic(Objective):
    uses_real_in_g = True

    def g_loss(self, fake, real=None):
        if real is None:
            raise ValueError(f"{type(self).__name__}.g_loss needs the critic scores of a real batch")
        return self.relative_loss(fake, real)

    def d_loss(self, real, fake):
        return self.relative_loss(real, fake)

    def relative_loss(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Loss of the side whose samples ``a`` should look more real than ``b``.

        Every objective here is symmetric: G's loss is D's loss with real and fake swapped."""
        raise NotImplementedError


@OBJECTIVES.register("rsgan", "Relativistic standard GAN: BCE on C(real) - C(fake), paired",
    citation='Jolicoeur-Martineau 2019, "The relativistic discriminator"')
class RSGAN(Relativistic):
    def relative_loss(self, a, b):
        return bce_logits(a - b, 1)


@OBJECTIVES.register("rasgan", "Relativistic average standard GAN (RaSGAN)",
    citation='Jolicoeur-Martineau 2019, "The relativistic discriminator"')
class RaSGAN(Relativistic):
    def relative_loss(self, a, b):
        return (bce_logits(a - b.mean(), 1) + bce_logits(b - a.mean(), 0)) / 2


@OBJECTIVES.register("ralsgan", "Relativistic average least-squares GAN (RaLSGAN)",
    citation='Jolicoeur-Martineau 2019, "The relativistic discriminator"')
class RaLSGAN(Relativistic):
    def relative_loss(self, a, b):
        return (((a - b.mean() - 1) ** 2).mean() + ((b - a.mean() + 1) ** 2).mean()) / 2


@OBJECTIVES.register("rahinge", "Relativistic average hinge GAN (RaHingeGAN)",
    citation='Jolicoeur-Martineau 2019, "The relativistic discriminator"')
class RaHinge(Relativistic):
    def relative_loss(self, a, b):
        return (F.relu(1 - (a - b.mean())).mean() + F.relu(1 + (b - a.mean())).mean()) / 2
