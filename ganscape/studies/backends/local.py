"""Run a study's tasks on this machine with ``workers`` worker subprocesses (``python -m ganscape.studies.worker``).

Workers claim pending tasks until none is left, so a crash in one task never stops the others. A worker that dies
(killed, out of memory) is replaced while tasks remain; its task goes back to pending until it has had
``DEATH_ATTEMPTS`` and then is reported failed with the exit code. Only workers that die before taking any task
(``STARTUP_FAILURES`` in a row) stop the runner: those point at a broken set-up, not at a killed worker. Another
``study run`` on the same study joins with its own workers; each runner waits until the tasks it may run are finished
(by anyone) before it returns.

With ``gpus`` (``study run --gpus 0,1,2,3``) worker i sees only GPU ``gpus[i % len(gpus)]`` (CUDA_VISIBLE_DEVICES):
more workers than GPUs share them round-robin, and a replacement worker takes the GPU of the one it replaces.
"""
from __future__ import annotations

import logging
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping

from ganscape.registry import ConfigError
from ganscape.studies.progress import StudyProgress
from ganscape.studies.store import DEATH_ATTEMPTS, LeaseWatch, Store, contended

log = logging.getLogger("ganscape.study")
POLL_S = 0.2           # how often the runner looks at its workers and the study
REQUEUE_EVERY_S = 5.0  # how often it requeues tasks whose worker (of any runner) is gone
STARTUP_FAILURES = 3   # workers in a row that die before taking a task: stop, something is wrong
HOST = socket.gethostname()  # a task's pid is of the worker on its host: a pid names a process on one host only
STOPPED = 130          # a worker's exit code when told to stop (Ctrl-C, SIGTERM): it released its task


def worker_command(study_dir: Path, ids: list[int] | None, workers: int, threads: int, executor: str | None):
    threads = threads or max(1, (os.cpu_count() or 1) // max(1, workers))  # default: share the cores
    command = [sys.executable, "-m", "ganscape.studies.worker", str(study_dir), "--threads", str(threads)]
    command += ["--ids", ",".join(map(str, ids))] if ids is not None else []
    return command + (["--executor", executor] if executor else [])


def parse_gpus(text: str, available: int | None = None) -> list[int]:
    """``--gpus 0,1,2,3`` -> [0, 1, 2, 3], each id checked against the ``available`` CUDA devices this process sees
    (default: torch.cuda.device_count()); else a ConfigError naming the bad value and the valid ids."""
    if available is None:
        import torch
        available = torch.cuda.device_count()
    valid = ("valid: none; run without --gpus" if available == 0 else
             "valid id: 0" if available == 1 else f"valid ids: 0-{available - 1}")
    parts = [part.strip() for part in text.split(",")]
    for part in parts:
        if not (part.isascii() and part.isdigit()):
            raise ConfigError(f"--gpus: {part!r} (in {text!r}) is not a GPU id; give comma-separated ids such as "
                              f"0,1 ({valid})")
        if int(part) >= available:
            raise ConfigError(f"--gpus: GPU {int(part)} does not exist: this machine has {available} CUDA "
                              f"device{'' if available == 1 else 's'} ({valid})")
    return [int(part) for part in parts]


def worker_env(index: int, gpus: list[int] | None, base_env: Mapping[str, str]) -> dict[str, str]:
    """The environment of worker ``index``: ``base_env``, and with ``gpus`` CUDA_VISIBLE_DEVICES set to its GPU,
    ``gpus[index % len(gpus)]``. The ids count the devices this process sees: under CUDA_VISIBLE_DEVICES=2,3,
    GPU 0 is device 2."""
    env = dict(base_env)
    if gpus:
        gpu = gpus[index % len(gpus)]
        visible = [d.strip() for d in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
        env["CUDA_VISIBLE_DEVICES"] = visible[gpu] if gpu < len(visible) else str(gpu)
    return env


def reap(store: Store, procs: dict[int, subprocess.Popen], seen: set[int] = frozenset()) -> tuple[int, int]:
    """Forget exited workers (``procs``: worker slot -> process); a dead worker's task is failed (to be retried).
    Returns (died with a task, died before taking any): only the second kind suggests a broken set-up. A worker
    killed between two tasks has taken tasks before (its pid is on them, or in ``seen``, the pids the runner saw
    holding a task: a stopped worker's task is released and a dead one's requeued, pid cleared), so it is neither;
    nor is one that exited as stopped (Ctrl-C, SIGTERM: code 130)."""
    with_task = without = 0
    for slot, proc in list(procs.items()):
        code, pid = proc.poll(), proc.pid
        if code is None:
            continue
        del procs[slot]
        tasks = [t for t in store.tasks() if t["host"] == HOST] if code else []  # pids are this host's
        held = [t for t in tasks if t["status"] == "running" and t["pid"] == pid]
        took_tasks = pid in seen or any(t["pid"] == pid for t in tasks)
        for task in held:
            status = store.fail(task["id"], f"worker process {pid} died with exit code {code} while running this "
                                            "task", pid, retry=True, limit=DEATH_ATTEMPTS)
            log.warning("[task %d] its worker %d died (exit code %d); %s", task["id"], pid, code,
                        "retrying" if status == "pending" else "failed after its last attempt")
        with_task += bool(held)
        without += bool(code) and code != STOPPED and not took_tasks
    return with_task, without


def run_local(study_dir: str | Path, ids: list[int] | None, workers: int = 1, threads: int = 0,
              executor: str | None = None, gpus: list[int] | None = None) -> None:
    """Keep up to ``workers`` workers busy until the study's tasks (among ``ids``) are neither pending nor running,
    showing the progress (``StudyProgress``)."""
    study_dir = Path(study_dir)
    runner = Runner(ids, workers, worker_command(study_dir, ids, workers, threads, executor), gpus)
    progress = StudyProgress(workers)
    try:
        with Store(study_dir, create=False) as store:
            while True:
                try:
                    if runner.tick(store, progress):
                        return
                except sqlite3.OperationalError as err:
                    if not contended(err):
                        raise
                    # held past Store.write's retries by another process (an open sqlite3 shell, say): the workers
                    # go on, and the runner tries again instead of stopping them all
                    log.warning("warning: the study database in %s is locked by another process; waiting", study_dir)
                time.sleep(POLL_S)
    except BaseException:
        runner.stop()
        raise
    finally:
        progress.close()


class Runner:
    """The runner's state between looks at the study: its worker processes by slot (which GPU each gets), the
    workers in a row that died before taking a task, when orphaned tasks were last requeued and the heartbeats seen
    then."""

    def __init__(self, ids: list[int] | None, workers: int, command: list[str], gpus: list[int] | None):
        self.ids, self.workers, self.command, self.gpus = ids, workers, command, gpus
        self.procs: dict[int, subprocess.Popen] = {}
        self.failures_in_a_row, self.last_requeue, self.watch = 0, time.monotonic(), LeaseWatch()
        self.seen_working: set[int] = set()  # pids seen holding a task (``reap``)

    def tick(self, store: Store, progress: StudyProgress) -> bool:
        """Reap dead workers, requeue orphaned tasks now and then, start workers for pending tasks; whether the
        study's tasks are all over."""
        died_with_task, died_without = reap(store, self.procs, self.seen_working)
        self.failures_in_a_row = 0 if died_with_task else self.failures_in_a_row + died_without
        if self.failures_in_a_row >= STARTUP_FAILURES:
            raise ConfigError(f"study run: {self.failures_in_a_row} workers in a row died before taking a task; "
                              "see their messages above")
        if time.monotonic() - self.last_requeue > REQUEUE_EVERY_S:
            store.requeue(self.ids, retry_failed=False, watch=self.watch)
            self.last_requeue = time.monotonic()
        every_task = store.tasks()
        self.seen_working.update(t["pid"] for t in every_task if t["status"] == "running" and t["pid"]
                                 and t["host"] == HOST)
        tasks = [t for t in every_task if self.ids is None or t["id"] in self.ids]
        progress.update(tasks)
        pending = sum(t["status"] == "pending" for t in tasks)
        for slot in [s for s in range(self.workers) if s not in self.procs][:max(0, pending - len(self.procs))]:
            self.procs[slot] = subprocess.Popen(self.command, env=worker_env(slot, self.gpus, os.environ))
        return not self.procs and not pending and not any(t["status"] == "running" for t in tasks)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            proc.wait()
