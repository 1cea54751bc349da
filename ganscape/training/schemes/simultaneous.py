"""Simultaneous updates: D and G take their gradients from the same forward pass, then both step.

Each step draws one real and one latent batch, scores both with the current D, and takes D's loss and G's loss from
those same scores. D's gradient (its loss plus the D penalty) goes to D's parameters only, G's (its loss plus the
prior's and the generator's own regulariser) to G's and the prior's only, and only then do both optimisers step: G's
gradient is taken through the same D as D's gradient, not through the updated D as in ``alternating``, and
relativistic objectives' G loss uses the D(real) scores of that one pass (no fresh real batch).
This is the training loop of ALI (Dumoulin et al. 2017), which the PacGAN toy experiments use (one
update of each network per batch, both gradients of one computation graph); the ``grid25-paper`` / ``ring8-paper``
presets train with it. An auxiliary-classifier D (AC-GAN) is refused when the config is read."""
from __future__ import annotations

from ganscape.training.schemes.base import SCHEMES, optimizer_step, plus, set_gradients
from ganscape.training.schemes.lazy import LazyScheme


class Simultaneous(LazyScheme):
    def step(self, parts, log):
        parts.D.requires_grad_(True)
        x_real, y_real = parts.real_batch()
        z, y_fake = parts.latent_batch()
        x_fake = parts.train_G(z, y_fake)
        s_real, s_fake = parts.objective.critic_scores(parts.train_D, x_real, x_fake, y_real, y_fake)
        loss_d, loss_g = parts.objective.d_loss(s_real, s_fake), parts.objective.g_loss(s_fake, s_real)
        penalty, logged_penalty = self.lazy.penalty(parts, x_real, x_fake.detach(), y_real, y_fake)
        g_penalty, logged_g_penalty = self.lazy.generator_penalty(parts)
        reg = parts.prior.regularizer()
        set_gradients(parts, "d", plus(loss_d, penalty), own_only=True, retain_graph=True)
        set_gradients(parts, "g", plus(plus(loss_g, reg), g_penalty), own_only=True)
        out = {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}
        for side in ("d", "g"):
            norm = optimizer_step(parts, side, measure_norm=log)
            if norm is not None:
                out[f"grad_norm_{side}"] = norm
        parts.penalty.after_critic_step(parts.D)
        logged = {"penalty": logged_penalty, "penalty_g": logged_g_penalty,
                  "prior_reg": None if reg is None else reg.detach()}
        return {**out, **{k: v for k, v in logged.items() if v is not None}}


@SCHEMES.register("simultaneous", "D and G gradients from one forward pass, then both step (the ALI/PacGAN toy loop)",
    citation='Dumoulin et al. 2017, "Adversarially Learned Inference" (its training loop, used by the PacGAN toy '
             'experiments, Lin et al. 2018)')
def simultaneous():
    return Simultaneous()
