"""Training progress: a live bar on a terminal, else one plain line now and then (never a log
file full of carriage returns)."""
from __future__ import annotations

import sys
import time
from typing import TextIO

from ganscape.training.callbacks.base import ORDER, Callback

LINE_EVERY_S = 10.0  # without a terminal: at most one progress line per this many seconds


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress(Callback):
    order = ORDER["progress"]

    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None):
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.bar, self.start_step, self.end, self.started, self.last_line = None, 0, 0, 0.0, 0.0
        self.losses: dict[str, float] = {}  # of the newest logging step

    def on_fit_start(self, trainer, end) -> None:
        self.start_step, self.end, self.started, self.last_line = trainer.step, end, time.time(), time.time()
        if self.interactive:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=end, initial=trainer.step, unit="step", dynamic_ncols=True, file=self.stream)

    def on_step_end(self, trainer, step, out, logged, last) -> None:
        losses = {k: v for k, v in (logged or {}).items() if k.startswith("loss")}
        if self.bar is not None:
            if losses:
                self.bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
            self.bar.update(1)
            return
        self.losses = losses or self.losses
        # by the clock, not only on logging steps: slow steps and a large log_every left a log silent for minutes
        if last or time.time() - self.last_line >= LINE_EVERY_S:
            self.last_line = time.time()
            print(self.line(step, self.losses), file=self.stream, flush=True)

    def line(self, step: int, losses: dict[str, float]) -> str:
        elapsed = time.time() - self.started
        done = step - self.start_step
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.end - step) / rate if rate > 0 else 0.0
        values = "".join(f" {k} {v:.4g}" for k, v in losses.items())
        return (f"step {step}/{self.end} ({100 * step / max(1, self.end):.0f}%){values} | "
                f"{rate:.1f} steps/s, elapsed {format_duration(elapsed)}, ETA {format_duration(eta)}")

    def on_fit_end(self, trainer, completed) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
