"""Evaluation during training (``eval.every`` > 0): metrics of the sampling generator.

The run is evaluated as a sampler (``parts.sampler``), with EMA weights when kept, in eval
mode; all randomness is forked from, or independent of, the training RNG, so training is
unchanged. Records go to ``trainer.results`` (and, in a run folder, to results.jsonl).
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from torch import nn

from ganscape.training.callbacks.base import ORDER, Callback, due


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
    order = ORDER["evaluation"]

    def __init__(self, section: dict[str, Any], run: str = ""):
        self.section, self.run = section, run

    def on_step_end(self, trainer, step, out, logged, last) -> None:
        if not due(step, self.section["every"], last):
            return
        from ganscape.metrics.evaluate import evaluate_sampler

        modules = trainer.sampling_modules()
        with eval_mode(list(modules.values())):
            values = evaluate_sampler(trainer.parts.sampler(modules, step), self.section["metrics"], self.section["n"],
                                      inception_weights=self.section["inception_weights"])
        trainer.results.extend(v.record(self.run, step) for v in values)
