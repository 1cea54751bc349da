"""The callback interface of the trainer core: everything around a training step.

Callbacks run in ascending ``order`` (see ORDER). A stateful callback names a ``state_key``; its ``state_dict()`` is
saved in checkpoints under ``callbacks[state_key]`` and handed back through ``load_state_dict`` on resume."""
from __future__ import annotations

from typing import Any

# Nothing is saved before it is checked, and logs are written before their checkpoint.
ORDER = {"ema": 0, "divergence": 10, "ranks": 15, "logs": 20, "evaluation": 30, "results": 35, "checkpoint": 40,
         "samples": 50, "progress": 60, "plots": 70}


class Callback:
    state_key: str | None = None
    order: int = 25  # user callbacks run after the logs, before evaluation and checkpoints

    def on_attach(self, trainer) -> None:
        """Once, when the trainer is built (create state to be restored)."""

    def on_fit_start(self, trainer, end: int) -> None:
        """``fit`` is about to run steps ``trainer.step + 1 .. end``."""

    def on_step_end(self, trainer, step: int, out: dict[str, Any], logged: dict[str, float] | None, last: bool) -> None:
        """After each step; ``out`` holds the scheme's detached tensors, ``logged`` their floats on logging steps
        (else None); ``last``: the fit's end."""

    def on_fit_end(self, trainer, completed: bool) -> None:
        """Always; ``completed`` is false after an exception."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def due(step: int, every: int, last: bool) -> bool:
    """Whether a periodic action (every ``every`` steps, 0 = only at the end) runs at ``step``."""
    return last or (every > 0 and step % every == 0)


class Check(Callback):
    """Calls ``check()`` after every step, before anything is logged or saved; ``check`` raises to stop the fit
    (a study worker that lost its task, a time limit)."""

    order = ORDER["divergence"]

    def __init__(self, check):
        self.check = check

    def on_step_end(self, trainer, step, out, logged, last) -> None:
        self.check()
