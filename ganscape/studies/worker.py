"""A local study worker: claims pending tasks from the database one at a time and runs them.

Started by the local backend as ``python -m ganscape.studies.worker STUDY_DIR``. Several
workers share a study safely: a claim is one SQLite transaction. While a task runs, a
thread refreshes its heartbeat so other runners can tell a live task from an orphan.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import traceback
from pathlib import Path

from ganscape.studies.store import Store

log = logging.getLogger("ganscape.study")
HEARTBEAT_S = 10.0


class Heartbeat:
    """Refresh a running task's heartbeat every few seconds from a background thread."""

    def __init__(self, study_dir: Path, task_id: int):
        self.study_dir, self.task_id = study_dir, task_id
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with Store(self.study_dir) as store:
            while not self.stop.wait(HEARTBEAT_S):
                store.heartbeat(self.task_id, os.getpid())

    def __enter__(self) -> "Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def run_claimed(store: Store, task: dict, eval_spec: dict) -> str:
    """Run one claimed task and record its outcome; returns the final status."""
    from ganscape.studies.execute import execute_task

    task_id = task["id"]
    try:
        with Heartbeat(store.study_dir, task_id):
            result = execute_task(store.study_dir, task_id, task["config"], eval_spec,
                                  done_steps=store.evaluated_steps(task_id),
                                  on_results=lambda step, records: store.add_results(task_id, records))
    except KeyboardInterrupt:
        store.fail(task_id, "interrupted: the worker was stopped; re-run to resume")
        raise
    except Exception:
        store.fail(task_id, traceback.format_exc())
        log.error("[task %d] failed:\n%s", task_id, traceback.format_exc())
        return "failed"
    store.finish(task_id, result.train_seconds, result.eval_seconds, result.note)
    log.info("[task %d] done (%s) train %.1f s, eval %.1f s", task_id, task["name"],
             result.train_seconds, result.eval_seconds)
    return "done"


def work(study_dir: str | Path, allowed: list[int] | None = None) -> int:
    """Claim and run tasks until none is pending; returns the number run."""
    count = 0
    with Store(study_dir, create=False) as store:
        eval_spec = store.get_meta("eval", {})
        while (task := store.claim(allowed)) is not None:
            log.info("[task %d] start %s (pid %d)", task["id"], task["name"], os.getpid())
            run_claimed(store, task, eval_spec)
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganscape.studies.worker")
    parser.add_argument("study_dir")
    parser.add_argument("--ids", default=None, help="comma-separated task ids this worker may take")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    if args.threads > 0:
        import torch
        torch.set_num_threads(args.threads)
    allowed = [int(i) for i in args.ids.split(",")] if args.ids else None
    try:
        work(args.study_dir, allowed)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
