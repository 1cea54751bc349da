"""The callbacks every run has, from its config: EMA of the sampling modules, the divergence
guard, evaluation during training."""
from __future__ import annotations

import contextlib
import copy
import math
from typing import Any, Iterator

import torch
from torch import nn

from ganscape.training.callbacks.base import ORDER, Callback, due

WATCHED = ("loss", "penalty", "grad_norm", "aux")  # logged values whose finiteness is checked
ADVICE = ("lower the learning rates (optim.g.lr, optim.d.lr), add a penalty (penalty.name=wgan_gp) "
          "or spectral norm (discriminator.norm=spectral)")


class EMA(Callback):
    """After every step ``shadow = decay * shadow + (1 - decay) * weights`` for each averaged module
    (``parts.averaged_names()``: G and a trained prior, or both translators); buffers are copied. The shadows are
    registered in ``trainer.averaged``, so previews and evaluation use them."""

    state_key, order = "ema", ORDER["ema"]

    def __init__(self, decay: float):
        self.decay, self.shadows, self.modules = decay, {}, {}

    def on_attach(self, trainer) -> None:
        self.modules = modules = trainer.parts.modules()
        self.shadows = {name: copy.deepcopy(modules[name]).eval().requires_grad_(False)
                        for name in trainer.parts.averaged_names()}
        trainer.averaged.update(self.shadows)

    @torch.no_grad()
    def on_step_end(self, trainer, step, out, logged, last) -> None:
        modules = trainer.parts.modules()
        for name, shadow in self.shadows.items():
            torch._foreach_lerp_(list(shadow.parameters()), [p.detach() for p in modules[name].parameters()],
                                 1.0 - self.decay)
            for s, b in zip(shadow.buffers(), modules[name].buffers()):
                s.copy_(b)

    def state_dict(self):
        return {name: shadow.state_dict() for name, shadow in self.shadows.items()}

    def load_state_dict(self, state) -> None:
        """A module the checkpoint has no average of (a DeLiGAN prior, averaged since 2026-12-05) starts its average
        from the module's weights, which the checkpoint's models put back first."""
        for name, shadow in self.shadows.items():
            shadow.load_state_dict(state[name] if name in state else self.modules[name].state_dict())


class DivergenceError(RuntimeError):
    """The update diverged; the run stopped before saving the diverged state."""


class DivergenceGuard(Callback):
    """Stops a run whose losses, penalty, gradient norms or parameters become NaN/inf.

    Each step folds the finiteness of the watched values into one flag on the device (no host synchronisation); the
    flag and the parameters are checked on logging and checkpoint steps, and on the steps that evaluate or draw
    previews (``output_every``: ``eval.every``, ``train.sample_every``), before anything is logged, saved, scored or
    drawn. Under fp16 loss scaling a loss scale that collapsed (``Precision.collapsed``) is a divergence too: every
    step was skipped, and nothing else would say so. NaN/inf in the *data* is caught when the data is loaded."""

    order = ORDER["divergence"]

    def __init__(self, checkpoint_every: int, output_every: tuple[int, ...] = ()):
        self.checkpoint_every, self.output_every = checkpoint_every, output_every
        self.finite, self.last_values = None, {}

    def on_step_end(self, trainer, step, out, logged, last) -> None:
        values = [v.detach().float().reshape(()) for k, v in out.items() if k.startswith(WATCHED)]
        if values:
            ok = torch.isfinite(torch.stack([v.to(values[0].device) for v in values])).all()
            self.finite = ok if self.finite is None else self.finite & ok.to(self.finite.device)
        saving = due(step, self.checkpoint_every, last)
        if logged is not None or saving or any(every > 0 and step % every == 0 for every in self.output_every):
            self.check(trainer, step, logged or {}, saving)

    def check(self, trainer, step: int, logged: dict[str, float], saving: bool = False) -> None:
        from ganscape.distributed import all_ranks

        what = None
        if self.finite is not None and not all_ranks(bool(self.finite)):  # every rank stops, or none
            bad = [k for k, v in logged.items() if k.startswith(WATCHED) and not math.isfinite(v)]
            what = f"{', '.join(bad) or 'a loss'} became NaN/inf"
        elif (name := first_nonfinite_parameter(trainer.parts.modules())) is not None:
            what = f"parameter {name} became NaN/inf"
        elif (side := collapsed_loss_scale(trainer.parts)) is not None:
            what = (f"the fp16 loss scale of {side} fell below 2^-24: its gradients overflowed at every step for "
                    "dozens of steps, and each of those steps was skipped")
        elif saving and (name := first_nonfinite_state(trainer.parts)) is not None:
            # gradient norms are measured on log steps only: an overflow in Adam's moments can come first, and a
            # checkpoint holding it would be named the last good one
            what = f"{name} became NaN/inf"
        if what:
            raise DivergenceError(f"training diverged: {what} at or before step {step} "
                                  f"(last finite values: {self.last_values}); {ADVICE}")
        self.last_values = {k: v for k, v in logged.items() if k.startswith(WATCHED)} or self.last_values


def collapsed_loss_scale(parts) -> str | None:
    """The side (``g``/``d``) whose fp16 loss scale collapsed, on every rank alike (each rank's scaler sees the same
    all-reduced gradients); None without loss scaling."""
    precision = getattr(parts, "precision", None)
    return None if precision is None else precision.collapsed()


def first_nonfinite(named: list[tuple[str, torch.Tensor]]) -> str | None:
    """The name of the first tensor of ``named`` holding NaN/inf, or None (one host sync for all of them)."""
    if not named:
        return None
    ok = torch.stack([torch.isfinite(t).all().to(named[0][1].device) for _, t in named])
    return None if bool(ok.all()) else named[int((~ok).nonzero()[0])][0]


def first_nonfinite_parameter(modules: dict[str, nn.Module]) -> str | None:
    """``module.parameter`` name of the first non-finite parameter, or None."""
    return first_nonfinite([(f"{m}.{p}", t) for m, module in modules.items() for p, t in module.named_parameters()])


def first_nonfinite_state(parts) -> str | None:
    """The first non-finite floating tensor of the optimisers' states or the modules' buffers (batch-norm
    statistics), named; None when all are finite. Checked before a checkpoint is written."""
    named = [(f"optimizer {name} state {key} of parameter {index}", value)
             for name, opt in parts.optimizers().items()
             for index, state in enumerate(opt.state.values()) for key, value in state.items()]
    named += [(f"buffer {m}.{b}", t) for m, module in parts.modules().items() for b, t in module.named_buffers()]
    return first_nonfinite([(n, t) for n, t in named if isinstance(t, torch.Tensor) and t.is_floating_point()])


@contextlib.contextmanager
def eval_mode(modules: list[nn.Module]) -> Iterator[None]:
    """Put modules in eval mode inside the block and restore each one's mode after it."""
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)


class Evaluation(Callback):
    """``eval.every`` > 0: the run's metrics as a sampler (EMA weights when kept, eval mode), on side
    RNG streams so training is unchanged; records go to ``trainer.results``."""

    order = ORDER["evaluation"]

    def __init__(self, section: dict[str, Any], run: str = ""):
        self.section, self.run = section, run

    def on_step_end(self, trainer, step, out, logged, last) -> None:
        if not due(step, self.section["every"], last):
            return
        from ganscape.distributed.consistency import share_buffers
        from ganscape.metrics.evaluate import evaluate_sampler
        from ganscape.metrics.protocol import eval_options
        from ganscape.runtime import side_rng

        modules = trainer.sampling_modules()
        share_buffers(modules)  # under torchrun the ranks share the evaluation: one G, rank 0's (the checkpoint's)
        sampler = trainer.parts.sampler(modules, step)
        # on a stream of its own: whatever a metric draws from the global RNG (building a network, say) is not taken
        # from the training run's stream
        with eval_mode(list(modules.values())), side_rng(0, sampler.device):
            values = evaluate_sampler(sampler, self.section["metrics"], self.section["n"], **eval_options(self.section))
        trainer.results.extend(v.record(self.run, step) for v in values)
