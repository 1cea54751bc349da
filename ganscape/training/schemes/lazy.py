"""Lazy regularisation (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN", section 3.1):
a regulariser applied only on every k-th step, multiplied by k, costs 1/k as much and trains about the same.

Two regularisers can be lazy:
- the D penalty, when it has ``every`` = k > 1 (``penalty: {name: r1, every: 16}``): computed on the D steps whose
  0-based D-step counter is a multiple of k, added k times to that step's D loss;
- the generator's own penalty, when the generator has ``penalty_every`` = k > 0 and ``penalty(z, y)`` (the StyleGAN
  generator's path-length regularisation, ``generator.pl_weight``): computed on the G steps whose 0-based G-step
  counter is a multiple of k, on a fresh latent batch, added k times to that step's G loss.

The reference takes a separate optimiser step for the regulariser with Adam's lr and betas adjusted by k / (k + 1);
here it is added to the loss of the regularised step, and the optimiser settings are left alone.

The counters and the last computed values are scheme state (in checkpoints), so a resumed run regularises on the
same steps, and logs the same values, as an uninterrupted one. Logged: ``penalty`` (D) and ``penalty_g`` (G), the
unscaled value of the most recent regularised step. With ``every`` = 1 the D penalty is computed and added on every
step exactly as without this helper."""
from __future__ import annotations

from typing import Any

import torch

from ganscape.training.schemes.base import Scheme


class LazyRegularization:
    def __init__(self):
        self.d_steps, self.g_steps = 0, 0
        self.last: dict[str, torch.Tensor] = {}

    def penalty(self, parts, x_real, x_fake, y_real, y_fake) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(term to add to this D step's loss, value to log) for the run's D penalty; both None without one."""
        every = parts.penalty.every
        step, self.d_steps = self.d_steps, self.d_steps + 1
        if every > 1 and step % every:
            return None, self.last.get("penalty")
        with parts.precision.float32():
            value = parts.penalty(parts.train_D, x_real, x_fake, y_real, y_fake)
        if every == 1:
            return value, (None if value is None else value.detach())
        if value is None:
            return None, None
        self.last["penalty"] = value.detach()
        return value * every, self.last["penalty"]

    def generator_penalty(self, parts) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(term to add to this G step's loss, value to log) for the generator's own penalty; both None without one."""
        every = parts.G.penalty_every
        if not every:
            return None, None
        step, self.g_steps = self.g_steps, self.g_steps + 1
        if step % every:
            return None, self.last.get("penalty_g")
        z, y = parts.latent_batch()
        with parts.precision.float32():
            value = parts.train_G.penalty(z, y)
        self.last["penalty_g"] = value.detach()
        return value * every, self.last["penalty_g"]

    def state_dict(self) -> dict[str, Any]:
        return {"d_steps": self.d_steps, "g_steps": self.g_steps, "last": dict(self.last)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Checkpoints written before lazy regularisation existed hold no counters: they start at 0."""
        self.d_steps, self.g_steps = int(state.get("d_steps", 0)), int(state.get("g_steps", 0))
        self.last = dict(state.get("last", {}))


class LazyScheme(Scheme):
    """A scheme whose only state is its ``LazyRegularization`` counters (``alternating``, ``simultaneous``)."""

    def __init__(self):
        self.lazy = LazyRegularization()  # D/G step counters of lazy regularisers (checkpointed)

    def state_dict(self):
        return {"lazy": self.lazy.state_dict()}

    def load_state_dict(self, state):
        self.lazy.load_state_dict(state.get("lazy", {}))
