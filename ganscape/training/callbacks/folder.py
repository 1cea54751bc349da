"""The callbacks that put a run on disk: metrics.jsonl, TensorBoard, results.jsonl, checkpoints,
preview images, the loss plot and environment.jsonl. A resumed run first drops what was logged after its
checkpoint."""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from ganscape.results import ResultsWriter
from ganscape.training.callbacks.base import ORDER, Callback, due
from ganscape.training.checkpoint import checkpoint_path
from ganscape.utils.io import append_jsonl, atomic_path, read_jsonl, truncate_jsonl

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
ENVIRONMENT_FILE = "environment.jsonl"


class MetricsLog(Callback):
    """``RUN_DIR/metrics.jsonl``: {step, time (s since this fit started), train_seconds, logged values}.

    ``train_seconds`` is the wall time spent training up to that step, summed over every fit and resume. It is kept
    in checkpoints (``callbacks.clock``), so a resumed run's clock goes on from its checkpoint: the steps a killed
    attempt made after its last checkpoint are run again and counted once."""

    order, state_key = ORDER["logs"], "clock"

    def __init__(self, run_dir: str | Path):
        self.path, self.start = Path(run_dir) / METRICS_FILE, time.time()
        self.before = 0.0  # training seconds of earlier fits and attempts
        self.running = False

    def train_seconds(self) -> float:
        return self.before + (time.time() - self.start if self.running else 0.0)

    def on_fit_start(self, trainer, end) -> None:
        self.start, self.running = time.time(), True
        truncate_jsonl(self.path, trainer.step)

    def on_step_end(self, trainer, step, out, logged, last) -> None:
        if logged is not None:
            append_jsonl(self.path, {"step": step, "time": round(time.time() - self.start, 3),
                                     "train_seconds": round(self.train_seconds(), 3), **logged})

    def on_fit_end(self, trainer, completed) -> None:
        self.before, self.running = self.train_seconds(), False

    def state_dict(self) -> dict[str, float]:
        return {"train_seconds": self.train_seconds()}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.before = float(state["train_seconds"])


class EnvironmentLog(Callback):
    """``RUN_DIR/environment.jsonl``: one line each time the run starts or resumes: the step it starts from, the UTC
    time, the number of processes, and what it runs on (``ganscape.utils.environment``: CPU model and features,
    cores, GPU, torch, Python, ganscape source). A seeded run repeats to the last digit only on one kind of CPU and
    torch build, so a run resumed elsewhere says so here. Lines are never removed: each is an event."""

    order = ORDER["logs"]

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / ENVIRONMENT_FILE

    def on_fit_start(self, trainer, end) -> None:
        from ganscape.distributed import world
        from ganscape.utils.environment import changes_results, environment

        started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        now = {"step": trainer.step, "started": started, "processes": world()[1],
               **environment(str(trainer.parts.device))}
        earlier = read_jsonl(self.path) if trainer.step else []
        if earlier and (changed := changes_results(earlier[-1], now)):
            log.warning("warning: resuming at step %d with %s (environment.jsonl): from here the run is not the one "
                        "an uninterrupted run would give to the last digit", trainer.step, "; ".join(changed))
        append_jsonl(self.path, now)


class TensorBoardLog(Callback):
    """Scalars under ``RUN_DIR/tb`` when the optional ``tensorboard`` package is installed. A resumed run purges the
    points logged after its checkpoint (a killed attempt's), so a step has one value."""

    order = ORDER["logs"]

    def __init__(self, run_dir: str | Path):
        self.folder, self.writer = Path(run_dir) / "tb", None

    def on_fit_start(self, trainer, end) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is an optional extra
            return
        self.writer = SummaryWriter(str(self.folder), purge_step=trainer.step + 1)  # as metrics.jsonl is truncated

    def on_step_end(self, trainer, step, out, logged, last) -> None:
        for key, value in (logged or {}).items() if self.writer is not None else ():
            self.writer.add_scalar(key, value, step)

    def on_fit_end(self, trainer, completed) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class ResultsLog(Callback):
    """Writes the records that evaluation adds to ``trainer.results`` to ``RUN_DIR/results.jsonl``, named like
    ``ganscape eval``'s: ``run`` the run folder, ``checkpoint`` the file written at that step (the same weights; ""
    at a step without one), so evaluating that checkpoint again with the same metric replaces them."""

    order = ORDER["results"]

    def __init__(self, writer: ResultsWriter, run_dir: str | Path, checkpoint_every: int):
        self.writer, self.written = writer, 0
        self.run, self.checkpoint_every = str(run_dir), checkpoint_every

    def on_fit_start(self, trainer, end) -> None:
        truncate_jsonl(self.writer.path, trainer.step)
        self.written = len(trainer.results)

    def on_step_end(self, trainer, step, out, logged, last) -> None:
        new = trainer.results[self.written:]
        if new:
            checkpoint = checkpoint_path(self.run, step).name if due(step, self.checkpoint_every, last) else ""
            self.writer.write([replace(r, run=r.run or self.run, checkpoint=r.checkpoint or checkpoint) for r in new])
        self.written = len(trainer.results)


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


class LossPlot(Callback):
    """``RUN_DIR/loss_curves.png`` at the end of a completed fit."""

    order = ORDER["plots"]

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)

    def on_fit_end(self, trainer, completed) -> None:
        if completed:
            plot_losses(self.run_dir)


def plot_losses(run_dir: str | Path) -> Path | None:
    """Write ``loss_curves.png``: every ``loss*`` series of metrics.jsonl against step."""
    from ganscape.utils.images import pyplot

    plt = pyplot()

    records = read_jsonl(Path(run_dir) / METRICS_FILE)
    keys = sorted({k for r in records for k in r if k.startswith("loss")})
    if not keys:
        return None
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for key in keys:
        ax.plot([r["step"] for r in records if key in r], [r[key] for r in records if key in r], label=key)
    ax.set(xlabel="step", ylabel="loss")
    ax.legend()
    ax.grid(alpha=0.3)
    out = Path(run_dir) / "loss_curves.png"
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)
    return out
