"""A local study worker (``python -m ganscape.studies.worker STUDY_DIR``): claims pending tasks one at a time.

Several workers (of one or several ``study run`` processes) share a study safely: a claim is one SQLite
transaction, and a task belongs to the worker that claimed it. While a task runs, a thread refreshes its heartbeat
(retrying through locked-database errors, never dying silently); if the study has given the task to another
worker meanwhile (``Store.requeue`` of a stale task), the heartbeat reports the lease lost and the task stops at
its next step, so no task is ever worked on by two workers. A task that raises is retried (up to
``MAX_ATTEMPTS``) unless its config is invalid, which no retry can fix.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sqlite3
import sys
import threading
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ganscape.cli import stop_on_sigterm
from ganscape.plugins import import_plugins
from ganscape.registry import ConfigError
from ganscape.studies.execute import no_retry_fixes
from ganscape.studies.store import Store

log = logging.getLogger("ganscape.study")
HEARTBEAT_S = 10.0
DEFAULT_EXECUTOR = "ganscape.studies.execute:execute_task"


class LeaseLost(RuntimeError):
    """The study gave this task to another worker (its heartbeat went stale); stop working on it."""


@contextmanager
def lease(study_dir: Path, task_id: int) -> Iterator[Callable[[], None]]:
    """Heartbeat a task from a background thread; yields ``check()``, which raises LeaseLost once the task has
    been given to another worker."""
    stop, lost = threading.Event(), threading.Event()

    def loop() -> None:
        with Store(study_dir) as store:
            while not stop.wait(HEARTBEAT_S):
                try:
                    if not store.heartbeat(task_id, os.getpid()):
                        lost.set()
                        return
                except sqlite3.Error as err:  # still locked after the store's retries: try again next beat
                    log.warning("[task %d] heartbeat not recorded (%s); retrying", task_id, err)

    def check() -> None:
        if lost.is_set():
            raise LeaseLost(f"task {task_id} was given to another worker")

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield check
    finally:
        stop.set()
        thread.join()


def run_claimed(store: Store, task: dict, eval_spec: dict, executor: Callable) -> str:
    """Run one claimed task and record its outcome; returns the final status."""
    task_id, pid = task["id"], os.getpid()

    def on_results(step, records) -> None:
        if not store.add_results(task_id, records, pid):
            raise LeaseLost(f"task {task_id} was given to another worker")
    try:
        with lease(store.study_dir, task_id) as check:
            result = executor(store.study_dir, task_id, task["config"], eval_spec, store.evaluated_steps(task_id),
                              on_results=on_results, check=check)
    except LeaseLost:
        log.warning("[task %d] stopped: the study gave it to another worker", task_id)
        return "lost"
    except KeyboardInterrupt:
        store.release(task_id, "interrupted: the worker was stopped; re-run to resume", pid)
        raise
    except Exception as err:
        error, retry = traceback.format_exc(), not no_retry_fixes(err)
    else:
        error = None
    if error is not None:  # recorded after the except block: its traceback's frames, and the files they hold open
        status = store.fail(task_id, error, pid, retry=retry)  # (a half-written checkpoint on a full disk), are gone
        log.error("[task %d] failed (%s):\n%s", task_id, "will retry" if status == "pending" else "final", error)
        return status or "lost"
    store.finish(task_id, result.train_seconds, result.eval_seconds, result.note, pid)
    log.debug("[task %d] done (%s) train %.1f s, eval %.1f s", task_id, task["name"], result.train_seconds,
              result.eval_seconds)
    return "done"


def load_executor(spec: str) -> Callable:
    """``module:function`` -> the function that executes a task (default: train and evaluate its run)."""
    module, sep, name = spec.partition(":")
    if not (module and sep and name):
        raise ConfigError(f"--executor: {spec!r}: expected MODULE:FUNCTION")
    try:
        execute = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"--executor: cannot load {spec!r} ({err})") from None
    if not callable(execute):
        raise ConfigError(f"--executor: {spec!r} is not a function")
    return execute


def check_executor(spec: str) -> None:
    """Load ``spec`` as a worker will (its PYTHONPATH and working folder on the import path), so a bad one is one
    ConfigError before any worker starts."""
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p] + [os.getcwd()]
    saved = list(sys.path)
    sys.path[:0] = [p for p in extra if p not in sys.path]
    try:
        load_executor(spec)
    finally:
        sys.path[:] = saved


def work(study_dir: str | Path, allowed: list[int] | None = None, executor: str = DEFAULT_EXECUTOR) -> int:
    """Claim and run tasks until none is pending; returns the number run."""
    count, execute = 0, load_executor(executor)
    with Store(study_dir, create=False) as store:
        eval_spec = store.get_meta("eval", {})
        while (task := store.claim(allowed)) is not None:
            log.debug("[task %d] start %s (pid %d)", task["id"], task["name"], os.getpid())
            run_claimed(store, task, eval_spec, execute)
            count += 1
    return count


def quiet_logging() -> None:
    """Warnings and errors, plus ganscape's own notices; no other library's info messages (e.g. matplotlib's
    "generated new fontManager"), and no per-task start/done lines: the runner shows each task's end."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("ganscape").setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganscape.studies.worker")
    parser.add_argument("study_dir")
    parser.add_argument("--ids", default=None, help="comma-separated task ids this worker may take")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--executor", default=DEFAULT_EXECUTOR, help="module:function that executes one task")
    args = parser.parse_args(argv)
    quiet_logging()
    stop_on_sigterm()
    if args.threads > 0:
        import torch
        torch.set_num_threads(args.threads)
    try:
        import_plugins()  # the study's parts of a user's own module (the driver checked the same names already)
        work(args.study_dir, [int(i) for i in args.ids.split(",")] if args.ids else None, args.executor)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
