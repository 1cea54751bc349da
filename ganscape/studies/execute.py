"""Train and evaluate one study task; shared by the local and the Ray backends.

Training resumes from the task's run folder (``STUDY_DIR/runs/task-NNNN``), and only
checkpoints without stored metrics are evaluated, so re-running an interrupted task
finishes it without repeating work. A run that diverges is a result, not a crash: its
existing checkpoints are still evaluated and the divergence is recorded as a note.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


@dataclass
class TaskResult:
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    note: str | None = None  # e.g. "diverged: ..."
    metrics: dict[int, dict[str, float]] = field(default_factory=dict)


def run_dir_for(study_dir: str | Path, task_id: int) -> Path:
    return Path(study_dir) / "runs" / f"task-{task_id:04d}"


def execute_task(study_dir: str | Path, task_id: int, config: dict[str, Any], eval_spec: dict[str, Any],
                 done_steps: set[int] = frozenset(),
                 on_metrics: Callable[[int, dict[str, float]], None] | None = None) -> TaskResult:
    """Train (or resume) the task's run, then score every checkpoint not in ``done_steps``.

    ``on_metrics(step, values)`` is called after each checkpoint is scored (the local
    backend writes it to the database right away); the values are also returned.
    """
    from ganscape.studies.evaluate import evaluate_checkpoint
    from ganscape.training.checkpoint import list_checkpoints
    from ganscape.training.trainer import DivergenceError, train

    run_dir = run_dir_for(study_dir, task_id)
    result = TaskResult()
    start = time.perf_counter()
    try:
        train(config, run_dir, show_progress=False)
    except DivergenceError as err:
        result.note = f"diverged: {err}"
    result.train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for step in list_checkpoints(run_dir):
        if step in done_steps:
            continue
        values = evaluate_checkpoint(run_dir, step, eval_spec)
        result.metrics[step] = values
        if on_metrics is not None:
            on_metrics(step, values)
    result.eval_seconds = time.perf_counter() - start
    return result

