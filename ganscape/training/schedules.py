"""Learning-rate schedules, registered by name: a multiplier of each optimiser's ``lr``.

``factor(done, total)`` is the multiplier for the update that follows ``done`` completed steps of a run of
``total`` (= ``train.steps``) steps. It depends on nothing else, so a resumed run continues the schedule exactly;
because the total matters, ``train.steps`` may not change on resume unless the schedule is ``constant``.

- ``constant``: 1.
- ``linear_decay``: 1 until ``start * total`` steps, then linearly down towards ``end_factor``, which it reaches
  after the last update (the last update itself uses ``end_factor + (1 - end_factor) / (total - start * total)``;
  CycleGAN: constant for half the training, then linear decay to 0).
- ``cosine``: ``end_factor + (1 - end_factor) (1 + cos(pi done / total)) / 2``."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ganscape.registry import Fraction, Registry

SCHEDULES = Registry("schedule")


@SCHEDULES.register("constant", "the configured learning rates throughout")
class Constant:
    def factor(self, done: int, total: int) -> float:
        return 1.0


@SCHEDULES.register("linear_decay", "constant until `start` of the steps, then linear to `end_factor`",
                    citation="Zhu et al. 2017 (CycleGAN: 100 epochs constant, 100 decaying to 0)")
@dataclass
class LinearDecay:
    start: Fraction = 0.5
    end_factor: Fraction = 0.0

    def factor(self, done: int, total: int) -> float:
        begin = self.start * total
        if done <= begin or total <= begin:
            return 1.0
        progress = min(1.0, (done - begin) / (total - begin))
        return 1.0 + (self.end_factor - 1.0) * progress


@SCHEDULES.register("cosine", "cosine annealing from the configured rates to `end_factor` of them",
                    citation="Loshchilov & Hutter 2017, \"SGDR\"")
@dataclass
class Cosine:
    end_factor: Fraction = 0.0

    def factor(self, done: int, total: int) -> float:
        progress = min(1.0, done / max(1, total))
        return self.end_factor + (1.0 - self.end_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_schedule(section: dict):
    return SCHEDULES.build(section, "schedule")
