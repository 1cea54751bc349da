"""The objective interface: how critic scores become D and G losses.

An objective sees raw critic scores (logits) for a real and a fake batch: ``d_loss(real, fake)`` and
``g_loss(fake, real)``, both (B,) -> scalar. Objectives whose generator loss needs D(real) (relativistic ones) set
``uses_real_in_g``; the alternating scheme then scores a fresh real batch in the G step (the simultaneous one
uses the D(real) of its single pass). ``critic_scores`` is the one place
that calls the critic, so a pair critic (Turing-test GAN) can override how scores are produced."""
from __future__ import annotations

import torch

from ganscape.registry import Registry

OBJECTIVES = Registry("objective")


class Objective:
    """Base class; subclasses implement ``d_loss`` and ``g_loss``."""

    uses_real_in_g: bool = False

    def critic_scores(self, critic, x_real, x_fake, y_real=None, y_fake=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores (B,) of the real and the fake batch."""
        return critic(x_real, y_real), critic(x_fake, y_fake)

    def fake_scores(self, critic, x_fake, y_fake=None) -> torch.Tensor:
        """Scores (B,) of a fake batch alone (G step of objectives that ignore D(real))."""
        return critic(x_fake, y_fake)

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


def build_objective(section: dict) -> Objective:
    return OBJECTIVES.build(section, "loss")
