"""Injected into worker subprocesses of the fault suite (through PYTHONPATH): every study-database write fails
with "database is locked" with probability $FAULT_LOCKED_P, as a busy SQLite file does."""
import os
import random
import sqlite3

probability = float(os.environ.get("FAULT_LOCKED_P", "0"))
if probability > 0:
    from contextlib import contextmanager

    from ganscape.studies import store

    original = store.Store.transaction
    rng = random.Random(os.getpid())

    @contextmanager
    def flaky_transaction(self):
        if rng.random() < probability:
            raise sqlite3.OperationalError("database is locked")
        with original(self) as db:
            yield db

    store.Store.transaction = flaky_transaction

failing_once = {int(i) for i in os.environ.get("FAULT_EXECUTE_FAILS_ONCE", "").split(",") if i}
if failing_once:  # study tasks whose first run raises (a crash that a retry gets past), in any backend's process
    from pathlib import Path

    from ganscape.studies import execute

    original_execute = execute.execute_task

    def execute_failing_once(study_dir, task_id, *args, **kwargs):
        marker = Path(study_dir) / f"failed-once-{task_id}"
        if task_id in failing_once and not marker.exists():
            marker.touch()
            raise RuntimeError(f"boom once in task {task_id}")
        return original_execute(study_dir, task_id, *args, **kwargs)

    execute.execute_task = execute_failing_once
