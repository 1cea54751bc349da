"""The trainer core: runs training steps on a run's built parts and tells callbacks.

It knows nothing about files: in a notebook ::

    result = Trainer("ring8", ["train.steps=500"]).fit()
    result.history[-1]        # {"step": 500, "loss_d": ..., "loss_g": ...}
    result.generator()        # the EMA generator when train.ema_decay > 0, else G

A run folder (``run_folder.train``) is the same trainer with callbacks that write logs, checkpoints, samples and
results. Every run kind is trained here: the kind's parts carry their models, optimisers, data streams and the
scheme that makes one step."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import torch
from torch import nn

from ganscape.config import load_config, schema_for
from ganscape.results import Record
from ganscape.training import checkpoint
from ganscape.training.callbacks import Callback, DivergenceGuard, EMA, Evaluation
from ganscape.training.optimizers import set_learning_rates
from ganscape.training.schedules import Constant


@dataclass
class FitResult:
    """What ``fit`` returns: the trained parts at ``step``, one dict per logged step, evaluation records, and the EMA
    averages of the sampling modules when kept."""

    parts: Any
    step: int
    history: list[dict[str, float]]
    results: list[Record]
    averaged: dict[str, nn.Module] = field(default_factory=dict)

    def sampling_modules(self) -> dict[str, nn.Module]:
        return {**self.parts.modules(), **self.averaged}

    def generator(self, name: str = "G") -> nn.Module:
        """The module used for sampling: its EMA average when kept, else the trained one."""
        return self.sampling_modules()[name]

    def sampler(self):
        """The trained run as a sampler (``ganscape.sampling``); put its G in eval mode to sample."""
        return self.parts.sampler(self.sampling_modules(), self.step)


def logged_values(out: dict[str, torch.Tensor]) -> dict[str, float]:
    """A step's outputs as floats, in one host synchronisation. Under torchrun each rank's losses come from its
    share of the batch: they are averaged over ranks (one all-reduce), so a logged row is the global batch's, as its
    gradient norms already are, and comparable with a single-process run's."""
    from ganscape.distributed import average, world

    if not out:
        return {}
    device = next(iter(out.values())).device
    values = torch.stack([torch.as_tensor(v).detach().double().reshape(()).to(device) for v in out.values()])
    if world()[1] > 1:
        values = average(values)
    return dict(zip(out, values.tolist()))


def build_parts(config: dict[str, Any]) -> Any:
    """The parts of a run of any kind from its resolved config (raises ConfigError before training)."""
    return schema_for(config["kind"]).build_parts(config)


def core_callbacks(config: dict[str, Any]) -> list[Callback]:
    """Callbacks every run has, from its config: EMA, divergence checks, evaluation, and in a multi-process run the
    rank consistency check."""
    train = config["train"]
    outputs = (config["eval"]["every"], train["sample_every"])  # steps that score or draw the weights
    out: list[Callback] = [DivergenceGuard(train["checkpoint_every"], outputs)]
    if train["ema_decay"] > 0:
        out.append(EMA(train["ema_decay"]))
    if config["eval"]["every"] > 0:
        out.append(Evaluation(config["eval"]))
    from ganscape.distributed import world

    if world()[1] > 1:
        from ganscape.distributed.consistency import RankSync

        out.append(RankSync(train["check_ranks_every"], train["checkpoint_every"]))
    return out


class Trainer:
    """``Trainer(config, overrides, callbacks)``; ``config`` is a preset name, a YAML path or a mapping."""

    def __init__(self, config: str | dict[str, Any], overrides: Iterable[str] = (), callbacks: Iterable[Callback] = ()):
        self.config = load_config(config, list(overrides))
        self.parts = build_parts(self.config)
        self.scheme = self.parts.scheme
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.results: list[Record] = []
        self.averaged: dict[str, nn.Module] = {}
        self.rank_rng: list[dict] | None = None  # every rank's RNG state at the last checkpoint step (multi-process)
        self.callbacks = sorted([*core_callbacks(self.config), *callbacks], key=lambda cb: cb.order)
        for cb in self.callbacks:
            cb.on_attach(self)

    def sampling_modules(self) -> dict[str, nn.Module]:
        """The run's modules with their EMA averages in place of the trained ones, when kept."""
        return {**self.parts.modules(), **self.averaged}

    def result(self) -> FitResult:
        return FitResult(self.parts, self.step, self.history, self.results, dict(self.averaged))

    def state_dict(self) -> dict[str, Any]:
        """Everything a checkpoint holds to continue bit-exactly (``checkpoint.SCHEMA``)."""
        return checkpoint.trainer_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        checkpoint.restore_trainer(self, state)

    def fit(self, steps: int | None = None, until: int | None = None) -> FitResult:
        """Run ``steps`` more steps, or up to step ``until``, or (neither given) up to ``train.steps``."""
        end = until if until is not None else (self.step + steps if steps is not None else self.config["train"]["steps"])
        for cb in self.callbacks:
            cb.on_fit_start(self, end)
        completed = False
        try:
            for step in range(self.step + 1, end + 1):
                self.run_step(step, last=step == end)
            completed = True
        finally:
            for cb in self.callbacks:
                cb.on_fit_end(self, completed)
        return self.result()

    def run_step(self, step: int, last: bool) -> None:
        log = last or step % self.config["train"]["log_every"] == 0
        factor = self.apply_schedule(step)
        with self.parts.precision.autocast():
            out = self.scheme.step(self.parts, log)
        self.step = step
        logged = None
        if log:
            logged = logged_values(out)
            if factor is not None:
                logged["lr_factor"] = factor
            self.history.append({"step": step, **logged})
        for cb in self.callbacks:
            cb.on_step_end(self, step, out, logged, last)

    def apply_schedule(self, step: int) -> float | None:
        """Set every optimiser's lr for ``step``; returns the factor (None for a constant schedule)."""
        schedule = self.parts.schedule
        if isinstance(schedule, Constant):
            return None
        factor = schedule.factor(step - 1, self.config["train"]["steps"])
        set_learning_rates(self.parts.optimizers(), self.config, factor)
        return factor
