"""Study executors for the fault suite (imported by worker subprocesses through PYTHONPATH).

``tiny`` stands in for training: a task of a few milliseconds that appends ``start``/``end`` lines (task id, pid,
time; ``fail`` when it raises) to ``STUDY_DIR/task.log`` and records one result, so the suite can check, from the
log, that every task's work ended exactly once and that no task ever ran in two workers at once. Like a real run
folder, it resumes: work that already ended (a worker killed before the study recorded it) is not done again,
and a result already stored (``done_steps``) is not computed again. ``FAULT_ALWAYS_FAILS`` (task ids) raise every
time, ``FAULT_FAILS_ONCE`` raise on their first attempt, ``FAULT_KILLS_WORKER`` kill their worker every time,
``FAULT_SLEEP_S`` sets the task's duration.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ganscape.results import Record
from ganscape.studies.execute import TaskResult


def log_line(study_dir: Path, event: str, task_id: int) -> None:
    with open(study_dir / "task.log", "a") as fh:  # one small O_APPEND write per line
        fh.write(f"{event} {task_id} {os.getpid()} {time.time():.6f}\n")


def ended(study_dir: Path, task_id: int) -> bool:
    """Whether an execution of the task already logged its end (a worker killed after that, before the study
    recorded the task done, must not do the work again)."""
    log = study_dir / "task.log"
    return log.exists() and any(line.split()[:2] == ["end", str(task_id)] for line in log.read_text().splitlines())


def ids(variable: str) -> set[int]:
    return {int(i) for i in os.environ.get(variable, "").split(",") if i}


def tiny(study_dir, task_id, config, eval_spec, done_steps=frozenset(), on_results=None, check=None):
    study_dir = Path(study_dir)
    log_line(study_dir, "start", task_id)
    if task_id in ids("FAULT_KILLS_WORKER"):  # e.g. a task that runs its worker out of memory, every time
        os.kill(os.getpid(), signal.SIGKILL)
    marker = study_dir / f"failed-once-{task_id}"
    if task_id in ids("FAULT_ALWAYS_FAILS") or (task_id in ids("FAULT_FAILS_ONCE") and not marker.exists()):
        marker.touch()
        log_line(study_dir, "fail", task_id)
        raise RuntimeError(f"boom in task {task_id}")
    if not ended(study_dir, task_id):  # the "end" line is the work's one atomic record, like a run's checkpoint
        time.sleep(float(os.environ.get("FAULT_SLEEP_S", "0.002")))
        if check is not None:
            check()
        log_line(study_dir, "end", task_id)
    if on_results is not None and 1 not in done_steps:
        on_results(1, [Record(f"runs/task-{task_id:04d}", 1, "", "modes2500_toy", 8.0, None, 2500, "toy", time.time())])
    return TaskResult(train_seconds=0.001, eval_seconds=0.001)
