"""Periodic saving into a run folder: checkpoints and preview images."""
from __future__ import annotations

from pathlib import Path

from ganscape.training.callbacks.base import ORDER, Callback, due


class Checkpointer(Callback):
    """A checkpoint every ``every`` steps and at the end of each fit (``checkpoint.py`` schema)."""

    order = ORDER["checkpoint"]

    def __init__(self, run_dir: str | Path, every: int, keep: int = 0):
        self.run_dir, self.every, self.keep = Path(run_dir), every, keep

    def on_step_end(self, trainer, step, out, logged, last) -> None:
        if due(step, self.every, last):
            from ganscape.training.checkpoint import write_checkpoint
            write_checkpoint(trainer.state_dict(), self.run_dir, step, self.keep)


class SampleWriter(Callback):
    """``RUN_DIR/samples/step-NNNNNNNN.png``: the run's preview, drawn with the sampling modules."""

    order = ORDER["samples"]

    def __init__(self, run_dir: str | Path, every: int):
        self.folder, self.every = Path(run_dir) / "samples", every

    def on_step_end(self, trainer, step, out, logged, last) -> None:
        if due(step, self.every, last):
            preview = trainer.parts.preview(trainer.sampling_modules())
            preview.save(self.folder / f"step-{step:08d}.png", title=f"step {step}")
