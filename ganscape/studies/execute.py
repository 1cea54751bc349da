"""Train and evaluate one study task; shared by the local and the Ray backends.

Training resumes from the task's run folder (``STUDY_DIR/runs/task-NNNN``), and only checkpoints without stored
results are evaluated, so re-running an interrupted task finishes it without repeating work. A run that diverges
is a result, not a crash: its existing checkpoints are still evaluated and the divergence is recorded as a note.
Each checkpoint's records go to the run's results.jsonl and, through ``on_results``, to the study database.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from ganscape.registry import ConfigError
from ganscape.results import Record, ResultsWriter, with_run
from ganscape.utils.io import FULL_STORAGE, FolderBusy, folder_busy, folder_lock, read_jsonl

log = logging.getLogger("ganscape.study")
BUSY_POLL_S = 5.0  # how often a task whose run folder another process holds looks again
T = TypeVar("T")


@dataclass
class TaskResult:
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    note: str | None = None  # e.g. "diverged: ..."
    results: dict[int, list[Record]] = field(default_factory=dict)


def no_retry_fixes(err: BaseException) -> bool:
    """Whether a task's failure is final at once: a bad config (ConfigError), but not a run folder another process
    holds (FolderBusy, which passes); a full disk, quota, file size limit or read-only file system."""
    if isinstance(err, OSError):
        return err.errno in FULL_STORAGE
    return isinstance(err, ConfigError) and not isinstance(err, FolderBusy)


def wait_until_free(run_dir: Path, check: Callable[[], None] | None) -> None:
    """Return once no other process holds the run folder's lock. One that does is a worker the study gave the task
    up on (its heartbeat went stale, e.g. a paused process): it stops at its next step when it sees that, and this
    task then resumes from its checkpoints. Failing at once instead would spend the task's attempts in a second.
    ``check()`` runs between looks, so a task taken from this worker meanwhile stops."""
    waited = False
    while folder_busy(run_dir):
        if check is not None:
            check()
        if not waited:
            log.warning("%s: another process holds this run folder (a worker the study gave the task up on?); "
                        "waiting for it to stop", run_dir)
            waited = True
        time.sleep(BUSY_POLL_S)


def logged_train_seconds(run_dir: Path) -> float | None:
    """The run's training time over all its attempts, from the last row of its metrics.jsonl (None before any)."""
    from ganscape.training.callbacks.folder import METRICS_FILE

    rows = read_jsonl(run_dir / METRICS_FILE)
    return rows[-1].get("train_seconds") if rows else None


def run_name(task_id: int) -> str:
    return f"runs/task-{task_id:04d}"


def run_dir_for(study_dir: str | Path, task_id: int) -> Path:
    return Path(study_dir) / run_name(task_id)


def when_free(run_dir: Path, check: Callable[[], None] | None, work: Callable[[], T]) -> T:
    """``work()`` (which takes the run folder's lock) once no other process holds the folder (``wait_until_free``);
    taken by another process between the look and the start, it waits again."""
    while True:
        wait_until_free(run_dir, check)
        try:
            return work()
        except FolderBusy as err:
            if err.folder is None or err.folder.resolve() != Path(run_dir).resolve():
                raise  # another folder's (a dataset another process prepares): not ours to wait for


def execute_task(study_dir: str | Path, task_id: int, config: dict[str, Any], eval_spec: dict[str, Any],
                 done_steps: set[int] = frozenset(), on_results: Callable[[int, list[Record]], None] | None = None,
                 check: Callable[[], None] | None = None) -> TaskResult:
    """Train (or resume) the task's run, then evaluate every checkpoint not in ``done_steps`` with the study's
    ``eval`` section (``ganscape.metrics.protocol``).
    ``check()`` runs after every training step and before every evaluation; it raises to stop the task."""
    from ganscape.training import DivergenceError, train
    from ganscape.training.callbacks import Check

    run_dir = run_dir_for(study_dir, task_id)
    result = TaskResult()
    start = time.perf_counter()
    try:
        when_free(run_dir, check,
                  lambda: train(config, run_dir, show_progress=False, callbacks=[Check(check)] if check else []))
    except DivergenceError as err:
        result.note = f"diverged: {err}"
    result.train_seconds = logged_train_seconds(run_dir) or time.perf_counter() - start
    start = time.perf_counter()
    when_free(run_dir, check, lambda: evaluate_checkpoints(run_dir, task_id, eval_spec, done_steps, on_results, check,
                                                           result))
    result.eval_seconds = time.perf_counter() - start
    return result


def evaluate_checkpoints(run_dir: Path, task_id: int, eval_spec: dict[str, Any], done_steps: set[int],
                         on_results: Callable[[int, list[Record]], None] | None, check: Callable[[], None] | None,
                         result: TaskResult) -> None:
    """Evaluate the run's checkpoints not in ``done_steps`` into ``result`` (and ``on_results``), holding the run
    folder's lock: a worker the study gave the task up on, still evaluating, would otherwise rewrite results.jsonl
    (``ResultsWriter.write``) while this one does."""
    from ganscape.metrics.evaluate import evaluate_run
    from ganscape.metrics.protocol import EVAL_DEFAULTS, eval_options
    from ganscape.training.checkpoint import CheckpointError, list_checkpoints

    eval_spec = {**EVAL_DEFAULTS, **eval_spec}  # studies planned before a key existed get its default
    writer = ResultsWriter.for_run(run_dir)
    with folder_lock(run_dir):
        steps = [s for s in list_checkpoints(run_dir) if s not in done_steps]
        for step in steps:
            if check is not None:
                check()
            try:
                records = evaluate_run(run_dir, eval_spec["metrics"], int(eval_spec["n"]), checkpoint=step,
                                       **eval_options(eval_spec))
            except CheckpointError as err:
                if step == steps[-1]:
                    raise  # the run's result itself: no other checkpoint stands for it
                # an earlier checkpoint that cannot be read is one missing point of the curve, not a failed task (a
                # ConfigError would fail it for good, and every retry would meet the same file)
                log.warning("warning: %s; its scores are left out", err)
                result.note = "; ".join(filter(None, [result.note, f"checkpoint {step} unreadable, not scored"]))
                continue
            records = with_run(records, run_name(task_id))
            writer.write(records, replace_existing=True)
            result.results[step] = records
            if on_results is not None:
                on_results(step, records)
