"""Run a study's tasks on this machine with ``workers`` subprocesses.

Each worker (``python -m ganscape.studies.worker``) claims pending tasks from the database
until none is left, so a crash in one task never stops the others. A worker that dies
(killed, out of memory) leaves its task 'running'; this runner marks it failed with the
exit code, and the next ``study run`` resumes it from its last checkpoint.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ganscape.studies.store import Store


def default_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def run_local(study_dir: str | Path, ids: list[int] | None, workers: int = 1, threads: int = 0) -> None:
    """Start the workers and wait for them; tasks must already be pending (see ``requeue``)."""
    study_dir = Path(study_dir)
    with Store(study_dir, create=False) as store:
        pending = [t["id"] for t in store.tasks() if t["status"] == "pending" and (ids is None or t["id"] in ids)]
    if not pending:
        return
    command = [sys.executable, "-m", "ganscape.studies.worker", str(study_dir),
               "--threads", str(threads or default_threads(workers))]
    if ids is not None:
        command += ["--ids", ",".join(map(str, ids))]
    procs = [subprocess.Popen(command) for _ in range(min(workers, len(pending)))]
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        raise
    with Store(study_dir) as store:
        for proc, code in zip(procs, codes):
            if code == 0:
                continue
            for task in store.tasks():
                if task["status"] == "running" and task["pid"] == proc.pid:
                    store.fail(task["id"], f"worker process {proc.pid} died with exit code {code} while "
                                           "running this task; `ganscape study run` again resumes it")
