"""The CycleGAN objective and its training step (Zhu et al. 2017, LSGAN form).

With a, b real batches of the two domains:
  G:  mean (D_b(G_ab(a)) - 1)^2 + mean (D_a(G_ba(b)) - 1)^2
      + lambda_cycle * (|G_ba(G_ab(a)) - a|_1 + |G_ab(G_ba(b)) - b|_1)
      + lambda_cycle * lambda_identity * (|G_ab(b) - b|_1 + |G_ba(a) - a|_1)
  D_a: 0.5 * [mean (D_a(a) - 1)^2 + mean D_a(pool_a(G_ba(b)))^2]   (D_b likewise)
One step updates both translators, then both critics; the critics see fakes through the
image history pools (``pool.py``), whose contents are the step's state in checkpoints."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ganscape.registry import Count, NonNegative, Registry
from ganscape.translation.pool import ImagePool

TRANSLATION_OBJECTIVES = Registry("translation objective")


def lsgan(scores: torch.Tensor, target: float) -> torch.Tensor:
    return ((scores - target) ** 2).mean()


@dataclass
class CycleGANObjective:
    lambda_cycle: float
    lambda_identity: float
    pool_size: int

    def scheme(self) -> "CycleStep":
        return CycleStep(self)


class CycleStep:
    """One G update (both directions) then one D update (both critics); detached losses out."""

    def __init__(self, objective: CycleGANObjective):
        self.objective = objective
        self.pool_a, self.pool_b = ImagePool(objective.pool_size), ImagePool(objective.pool_size)

    def step(self, parts, log: bool) -> dict[str, torch.Tensor]:
        a = parts.batches_a.next()[0].to(parts.device)
        b = parts.batches_b.next()[0].to(parts.device)
        out, fake_a, fake_b = self.generator_step(parts, a, b)
        out["loss_d"] = self.critic_step(parts, a, b, fake_a, fake_b)
        return out

    def generator_step(self, parts, a: torch.Tensor, b: torch.Tensor):
        lam_c, lam_i = self.objective.lambda_cycle, self.objective.lambda_identity
        parts.D_a.requires_grad_(False)
        parts.D_b.requires_grad_(False)
        fake_b, fake_a = parts.G_ab(a), parts.G_ba(b)
        adv = lsgan(parts.D_b(fake_b), 1.0) + lsgan(parts.D_a(fake_a), 1.0)
        cycle = F.l1_loss(parts.G_ba(fake_b), a) + F.l1_loss(parts.G_ab(fake_a), b)
        total = adv + lam_c * cycle
        out = {"loss_g": adv.detach(), "loss_cycle": cycle.detach()}
        if lam_i > 0:
            identity = F.l1_loss(parts.G_ab(b), b) + F.l1_loss(parts.G_ba(a), a)
            total = total + lam_c * lam_i * identity
            out["loss_identity"] = identity.detach()
        parts.opt_g.zero_grad(set_to_none=True)
        total.backward()
        parts.opt_g.step()
        parts.D_a.requires_grad_(True)
        parts.D_b.requires_grad_(True)
        return out, fake_a, fake_b

    def critic_step(self, parts, a, b, fake_a, fake_b) -> torch.Tensor:
        pool_a, pool_b = self.pool_a.query(fake_a.detach()), self.pool_b.query(fake_b.detach())
        loss_d = (0.5 * (lsgan(parts.D_a(a), 1.0) + lsgan(parts.D_a(pool_a), 0.0))
                  + 0.5 * (lsgan(parts.D_b(b), 1.0) + lsgan(parts.D_b(pool_b), 0.0)))
        parts.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        parts.opt_d.step()
        return loss_d.detach()

    def state_dict(self) -> dict:
        return {"pool_a": self.pool_a.state_dict(), "pool_b": self.pool_b.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.pool_a.load_state_dict(state["pool_a"])
        self.pool_b.load_state_dict(state["pool_b"])


@TRANSLATION_OBJECTIVES.register("cyclegan", "LSGAN adversarial + L1 cycle-consistency + identity losses, image pools",
    citation='Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks"')
def cyclegan(lambda_cycle: NonNegative = 10.0, lambda_identity: NonNegative = 0.5, pool_size: Count = 50):
    return CycleGANObjective(lambda_cycle, lambda_identity, pool_size)
