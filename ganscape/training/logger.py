"""Training logs: metrics.jsonl (one JSON object per logged step), TensorBoard, progress bar, loss plot."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ganscape.utils.io import append_jsonl, atomic_path, atomic_write_text, read_jsonl

import json


class RunLogger:
    """Writes ``metrics.jsonl`` and, when the ``tensorboard`` package is installed, events under ``tb/``."""

    def __init__(self, run_dir: str | Path, start_step: int, total_steps: int, show_progress: bool = True):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.start_time = time.time()
        truncate_after(self.path, start_step)
        self.tb = _tensorboard_writer(Path(run_dir) / "tb")
        self.bar = None
        if show_progress:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True)

    def log(self, step: int, values: dict[str, float]) -> None:
        record = {"step": step, "time": round(time.time() - self.start_time, 3), **values}
        append_jsonl(self.path, record)
        if self.tb is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)):
                    self.tb.add_scalar(key, value, step)
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in values.items() if k.startswith("loss")}, refresh=False)

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.tb is not None:
            self.tb.close()


def _tensorboard_writer(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is an optional extra
        return None
    return SummaryWriter(str(folder))


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

    records = read_jsonl(Path(run_dir) / "metrics.jsonl")
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


def scalars(values: dict[str, Any]) -> dict[str, float]:
    """Tensors -> Python floats (one sync per logged step)."""
    return {k: float(v) for k, v in values.items()}
