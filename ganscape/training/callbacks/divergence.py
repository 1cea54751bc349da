"""Stop a run whose update diverged: non-finite losses, gradient norms or parameters.

Every step folds the finiteness of the step's losses, penalty and gradient norms into one
flag on the device (no host synchronisation); the flag and the parameters are checked on the
host at logging and checkpoint steps, before anything is logged or saved, so a diverged state
never reaches a checkpoint. NaN or inf in the *data* is caught when the data is loaded.
"""
from __future__ import annotations

import math

import torch

from ganscape.training.callbacks.base import ORDER, Callback, due

WATCHED_PREFIXES = ("loss", "penalty", "grad_norm", "aux")
ADVICE = ("lower the learning rates (optim.g.lr, optim.d.lr), add a penalty (penalty.name=wgan_gp) "
          "or spectral norm (discriminator.norm=spectral)")


class DivergenceError(RuntimeError):
    """The update diverged; the run stopped before saving the diverged state."""


def watched(out: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    return [v for k, v in out.items() if k.startswith(WATCHED_PREFIXES) and isinstance(v, torch.Tensor)]


class DivergenceGuard(Callback):
    order = ORDER["divergence"]

    def __init__(self, log_every: int, checkpoint_every: int):
        self.log_every, self.checkpoint_every = log_every, checkpoint_every
        self.finite: torch.Tensor | None = None
        self.last_values: dict[str, float] = {}

    def on_step_end(self, trainer, step, out, logged, last) -> None:
        values = watched(out)
        if values:
            ok = torch.isfinite(torch.stack([v.detach().float().reshape(()).to(values[0].device) for v in values])).all()
            self.finite = ok if self.finite is None else self.finite & ok.to(self.finite.device)
        if logged is not None or due(step, self.checkpoint_every, last):
            self.check(trainer, step, logged)

    def check(self, trainer, step: int, logged: dict[str, float] | None) -> None:
        if self.finite is not None and not bool(self.finite):
            bad = [k for k, v in (logged or {}).items() if k.startswith(WATCHED_PREFIXES) and not math.isfinite(v)]
            what = f"{', '.join(bad)} became NaN/inf" if bad else "a loss became NaN/inf"
            raise DivergenceError(f"training diverged: {what} at or before step {step} "
                                  f"(last finite values: {self.last_values}); {ADVICE}")
        bad_param = first_nonfinite_parameter(trainer.parts.modules())
        if bad_param is not None:
            raise DivergenceError(f"training diverged: parameter {bad_param} became NaN/inf at or before step "
                                  f"{step} (last finite values: {self.last_values}); {ADVICE}")
        if logged is not None:
            self.last_values = {k: v for k, v in logged.items() if k.startswith(WATCHED_PREFIXES)}


def first_nonfinite_parameter(modules: dict[str, torch.nn.Module]) -> str | None:
    """``module.parameter`` name of the first non-finite parameter, or None (one host sync)."""
    named = [(f"{m}.{p}", t) for m, module in modules.items() for p, t in module.named_parameters()]
    if not named:
        return None
    ok = torch.stack([torch.isfinite(t).all().to(named[0][1].device) for _, t in named])
    if bool(ok.all()):
        return None
    return named[int((~ok).nonzero()[0])][0]
