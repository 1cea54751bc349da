"""Alternating updates: ``n_critic`` D steps, then ``g_steps`` G steps.

As in the reference DCGAN loop, the fake batch of the last D step is generated with gradients and reused (detached
for D) by the first G step, saving one G forward. Each later G step (``g_steps`` > 1) draws new latents, or with
``g_latents: reuse`` generates from the last D step's latents again, as the DCGAN-TensorFlow loop that PacGAN's
Stacked MNIST code runs (one z batch an iteration, fed to its D step and both G steps). Relativistic objectives score
a fresh real batch in the G step.

Auxiliary classifier (AC-GAN): when D has an auxiliary head (``D.aux_classes > 0``;
``forward_aux(x, y) -> (scores, class logits)``), every critic call made through the objective also yields raw class
logits, and ``aux_weight * cross_entropy(logits, y)`` is added: in the D step for real and fake batches, in the G step
for the fakes (their requested labels). Other discriminators take the unchanged path."""
from __future__ import annotations

from typing import Literal

import torch

from ganscape.registry import NonNegative, Positive
from ganscape.training.schemes.base import SCHEMES, plus, update
from ganscape.training.schemes.lazy import LazyScheme


class AuxRecorder:
    """Stands in for an AC-GAN critic: returns its scores, records (input, labels, logits)."""

    def __init__(self, critic):
        self.critic, self.calls = critic, []

    def __call__(self, x, y=None):
        scores, logits = self.critic.forward_aux(x, y)
        self.calls.append((x, y, logits))
        return scores

    def loss(self, only=None):
        """Mean cross-entropy over recorded labelled calls (those on ``only`` if given), or None."""
        from ganscape.models.conditional import classification_loss

        terms = [classification_loss(logits, y) for x, y, logits in self.calls
                 if y is not None and (only is None or x is only)]
        return torch.stack(terms).mean() if terms else None


class Alternating(LazyScheme):
    def __init__(self, n_critic: int, g_steps: int, aux_weight: float = 1.0, g_latents: str = "fresh"):
        super().__init__()
        self.n_critic, self.g_steps, self.aux_weight = n_critic, g_steps, aux_weight
        self.reuse_latents = g_latents == "reuse"

    @staticmethod
    def critic_for(parts):
        return AuxRecorder(parts.train_D) if parts.D.aux_classes else parts.train_D

    def add_aux(self, critic, total, out, key, only=None):
        """Add the weighted classification loss of an AuxRecorder to ``total``; log it."""
        aux = critic.loss(only) if isinstance(critic, AuxRecorder) else None
        if aux is None:
            return total
        out[key] = aux.detach()
        return total + self.aux_weight * aux

    def step(self, parts, log):
        out = self.critic_steps(parts, log)
        out.update(self.generator_steps(parts, log, out.pop("_fake")))
        return out

    def critic_steps(self, parts, log):
        parts.D.requires_grad_(True)
        for i in range(self.n_critic):
            x_real, y_real = parts.real_batch()
            z, y_fake = parts.latent_batch()
            last = i == self.n_critic - 1
            with torch.set_grad_enabled(last):
                x_fake = parts.train_G(z, y_fake)
            critic = self.critic_for(parts)
            s_real, s_fake = parts.objective.critic_scores(critic, x_real, x_fake.detach(), y_real, y_fake)
            loss_d = parts.objective.d_loss(s_real, s_fake)
            penalty, logged_penalty = self.lazy.penalty(parts, x_real, x_fake.detach(), y_real, y_fake)
            total = plus(loss_d, penalty)
            out = {"loss_d": loss_d.detach()}
            total = self.add_aux(critic, total, out, "aux_d")
            norm = update(parts, "d", total, measure_norm=log and last)
            if logged_penalty is not None:
                out["penalty"] = logged_penalty
            if norm is not None:
                out["grad_norm_d"] = norm
            parts.penalty.after_critic_step(parts.D)
        out["_fake"] = (x_fake, z, y_fake)
        return out

    def generator_steps(self, parts, log, fake):
        """``fake``: the last D step's (x_fake, z, labels), as ``fresh_fake`` gives them; its x_fake (made with
        gradients) serves the first G step."""
        parts.D.requires_grad_(False)
        for i in range(self.g_steps):
            if i > 0:
                fake = self.again(parts, fake) if self.reuse_latents else self.fresh_fake(parts)
            x_fake, _, y_fake = fake
            critic = self.critic_for(parts)
            if parts.objective.uses_real_in_g:
                x_real, y_real = parts.real_batch()
                s_real, s_fake = parts.objective.critic_scores(critic, x_real, x_fake, y_real, y_fake)
            else:
                s_real, s_fake = None, parts.objective.fake_scores(critic, x_fake, y_fake)
            loss_g = parts.objective.g_loss(s_fake, s_real)
            reg = parts.prior.regularizer()
            g_penalty, logged_g_penalty = self.lazy.generator_penalty(parts)
            total = plus(plus(loss_g, reg), g_penalty)
            out = {"loss_g": loss_g.detach()}
            total = self.add_aux(critic, total, out, "aux_g", only=x_fake)
            norm = update(parts, "g", total, measure_norm=log and i == self.g_steps - 1)
            if reg is not None:
                out["prior_reg"] = reg.detach()
            if logged_g_penalty is not None:
                out["penalty_g"] = logged_g_penalty
            if norm is not None:
                out["grad_norm_g"] = norm
        parts.D.requires_grad_(True)
        return out

    @staticmethod
    def fresh_fake(parts):
        """A fake batch from new latents: (x_fake, z, labels or None)."""
        z, y = parts.latent_batch()
        return parts.train_G(z, y), z, y

    @staticmethod
    def again(parts, fake):
        """The fake batch of the same latents from G as it is now: (x_fake, z, labels or None)."""
        _, z, y = fake
        return parts.train_G(z, y), z, y

@SCHEMES.register("alternating", "n_critic D steps then g_steps G steps (TTUR via optim.g/optim.d lr)",
    citation='Goodfellow et al. 2014; Heusel et al. 2017 (TTUR)')
def alternating(n_critic: Positive = 1, g_steps: Positive = 1, aux_weight: NonNegative = 1.0,
                g_latents: Literal["fresh", "reuse"] = "fresh"):
    """``aux_weight`` scales the AC-GAN classification loss (used only with an acgan D). ``g_latents``: the latents of
    each G step after the first, new ("fresh") or the last D step's again ("reuse", the DCGAN-TensorFlow loop's)."""
    return Alternating(n_critic, g_steps, aux_weight, g_latents)
