"""Run a study's tasks on this machine with ``workers`` worker subprocesses (``python -m ganscape.studies.worker``).

Workers claim pending tasks until none is left, so a crash in one task never stops the others. A worker that dies
(killed, out of memory) is replaced while tasks remain; its task goes back to pending until it has had
``MAX_ATTEMPTS`` and then is reported failed with the exit code. Another ``study run`` on the same study joins
with its own workers; each runner waits until the tasks it may run are finished (by anyone) before it returns.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from ganscape.registry import ConfigError
from ganscape.studies.store import DEATH_ATTEMPTS, Store

log = logging.getLogger("ganscape.study")
POLL_S = 0.2           # how often the runner looks at its workers and the study
REQUEUE_EVERY_S = 5.0  # how often it requeues tasks whose worker (of any runner) is gone
STARTUP_FAILURES = 3   # workers in a row that die before taking a task: stop, something is wrong


def worker_command(study_dir: Path, ids: list[int] | None, workers: int, threads: int, executor: str | None):
    threads = threads or max(1, (os.cpu_count() or 1) // max(1, workers))  # default: share the cores
    command = [sys.executable, "-m", "ganscape.studies.worker", str(study_dir), "--threads", str(threads)]
    command += ["--ids", ",".join(map(str, ids))] if ids is not None else []
    return command + (["--executor", executor] if executor else [])


def reap(store: Store, procs: dict[int, subprocess.Popen]) -> tuple[int, int]:
    """Forget exited workers; a dead worker's task is failed (to be retried). Returns (died with a task, without)."""
    with_task = without = 0
    for pid, proc in list(procs.items()):
        code = proc.poll()
        if code is None:
            continue
        del procs[pid]
        held = [t for t in store.tasks() if t["status"] == "running" and t["pid"] == pid] if code else []
        for task in held:
            status = store.fail(task["id"], f"worker process {pid} died with exit code {code} while running this "
                                            "task", pid, retry=True, limit=DEATH_ATTEMPTS)
            log.warning("[task %d] its worker %d died (exit code %d); %s", task["id"], pid, code,
                        "retrying" if status == "pending" else "failed after its last attempt")
        with_task += bool(held)
        without += bool(code) and not held
    return with_task, without


def run_local(study_dir: str | Path, ids: list[int] | None, workers: int = 1, threads: int = 0,
              executor: str | None = None) -> None:
    """Keep up to ``workers`` workers busy until the study's tasks (among ``ids``) are neither pending nor running."""
    study_dir = Path(study_dir)
    command = worker_command(study_dir, ids, workers, threads, executor)
    procs: dict[int, subprocess.Popen] = {}
    failures_in_a_row, last_requeue = 0, time.monotonic()
    try:
        with Store(study_dir, create=False) as store:
            while True:
                died_with_task, died_without = reap(store, procs)
                failures_in_a_row = 0 if died_with_task else failures_in_a_row + died_without
                if failures_in_a_row >= STARTUP_FAILURES:
                    raise ConfigError(f"study run: {failures_in_a_row} workers in a row died before taking a task; "
                                      "see their messages above")
                if time.monotonic() - last_requeue > REQUEUE_EVERY_S:
                    store.requeue(ids, retry_failed=False)
                    last_requeue = time.monotonic()
                tasks = [t for t in store.tasks() if ids is None or t["id"] in ids]
                pending = sum(t["status"] == "pending" for t in tasks)
                while len(procs) < min(workers, pending):
                    proc = subprocess.Popen(command)
                    procs[proc.pid] = proc
                if not procs and not pending and not any(t["status"] == "running" for t in tasks):
                    return
                time.sleep(POLL_S)
    except BaseException:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait()
        raise
