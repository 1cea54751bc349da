"""Training logs: metrics.jsonl (one JSON object per logged step), TensorBoard, results.jsonl,
the loss-curve plot. A resumed run first drops what was logged after its checkpoint."""
from __future__ import annotations

import json
import time
from pathlib import Path

from ganscape.results import ResultsWriter
from ganscape.training.callbacks.base import ORDER, Callback
from ganscape.utils.io import append_jsonl, atomic_path, atomic_write_text, read_jsonl

METRICS_FILE = "metrics.jsonl"


class MetricsLog(Callback):
    """``RUN_DIR/metrics.jsonl``: {step, time (s since this fit started), logged values}."""

    order = ORDER["logs"]

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / METRICS_FILE
        self.start = time.time()

    def on_fit_start(self, trainer, end) -> None:
        self.start = time.time()
        truncate_after(self.path, trainer.step)

    def on_step_end(self, trainer, step, out, logged, last) -> None:
        if logged is not None:
            append_jsonl(self.path, {"step": step, "time": round(time.time() - self.start, 3), **logged})


class TensorBoardLog(Callback):
    """Scalars under ``RUN_DIR/tb`` when the optional ``tensorboard`` package is installed."""

    order = ORDER["logs"]

    def __init__(self, run_dir: str | Path):
        self.folder = Path(run_dir) / "tb"
        self.writer = None

    def on_fit_start(self, trainer, end) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is an optional extra
            return
        self.writer = SummaryWriter(str(self.folder))

    def on_step_end(self, trainer, step, out, logged, last) -> None:
        if self.writer is not None and logged is not None:
            for key, value in logged.items():
                self.writer.add_scalar(key, value, step)

    def on_fit_end(self, trainer, completed) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class ResultsLog(Callback):
    """Writes the records that evaluation adds to ``trainer.results`` to ``RUN_DIR/results.jsonl``."""

    order = ORDER["results"]

    def __init__(self, writer: ResultsWriter):
        self.writer, self.written = writer, 0

    def on_fit_start(self, trainer, end) -> None:
        self.writer.truncate_after(trainer.step)
        self.written = len(trainer.results)

    def on_step_end(self, trainer, step, out, logged, last) -> None:
        self.writer.write(trainer.results[self.written:])
        self.written = len(trainer.results)


class LossPlot(Callback):
    """``RUN_DIR/loss_curves.png`` at the end of a completed fit."""

    order = ORDER["plots"]

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)

    def on_fit_end(self, trainer, completed) -> None:
        if completed:
            plot_losses(self.run_dir)


def truncate_after(path: Path, step: int) -> None:
    """Drop records with step > ``step`` (logged after the checkpoint a run resumes from)."""
    records = read_jsonl(path)
    kept = [r for r in records if r.get("step", 0) <= step]
    if len(kept) != len(records) or (path.exists() and len(records) != len(path.read_text().splitlines())):
        atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))


def plot_losses(run_dir: str | Path) -> Path | None:
    """Write ``loss_curves.png``: every ``loss*`` series of metrics.jsonl against step."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_jsonl(Path(run_dir) / METRICS_FILE)
    keys = sorted({k for r in records for k in r if k.startswith("loss")})
    if not keys:
        return None
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for key in keys:
        pts = [(r["step"], r[key]) for r in records if key in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    out = Path(run_dir) / "loss_curves.png"
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)
    return out
