"""Run a study's tasks as Ray tasks, on a local Ray instance or an existing cluster.

Each task is a Ray task asking for the study's ``resources`` (``cpus``, ``gpus``). The remote function trains
and evaluates in ``STUDY_DIR/runs/task-NNNN`` (so on a multi-node cluster STUDY_DIR must be on a shared
filesystem) and *returns* its metrics; only this driver writes the SQLite database, which therefore never needs
network file locking. A task that raises is recorded as failed with its traceback; a worker that dies is
recorded as failed with Ray's error; the other tasks go on.
"""
from __future__ import annotations

import logging
import os
import socket
import traceback
from pathlib import Path
from typing import Any

from ganscape.registry import ConfigError
from ganscape.results import Record
from ganscape.studies.store import Store

log = logging.getLogger("ganscape.study")
POLL_S = 5.0


def remote_task(study_dir: str, task_id: int, config: dict[str, Any], eval_spec: dict[str, Any],
                done_steps: list[int], threads: int) -> dict[str, Any]:
    """Body of one Ray task: returns metrics and timings, or the traceback of a failure."""
    import torch

    from ganscape.studies.execute import execute_task

    torch.set_num_threads(max(1, threads))
    try:
        result = execute_task(study_dir, task_id, config, eval_spec, set(done_steps))
    except Exception:
        return {"error": traceback.format_exc()}
    return {"results": [r.to_json() for records in result.results.values() for r in records],
            "train_seconds": result.train_seconds, "eval_seconds": result.eval_seconds, "note": result.note}


def run_ray(study_dir: str | Path, ids: list[int] | None, address: str | None = None,
            num_cpus: int | None = None) -> None:
    """Submit every pending task (among ``ids``) and record results as they arrive."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray: the `ray` package is not installed; "
                          "install it with `pip install 'ganscape[ray]'`") from None
    study_dir = Path(study_dir).resolve()
    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = {"address": address, "include_dashboard": False, "logging_level": logging.WARNING}
        if address is None:
            kwargs["num_cpus"] = num_cpus
        ray.init(**kwargs)
    try:
        _drive(ray, study_dir, ids)
    finally:
        if started_here:
            ray.shutdown()


def _drive(ray, study_dir: Path, ids: list[int] | None) -> None:
    fn = ray.remote(remote_task)
    host, pid = socket.gethostname(), os.getpid()
    with Store(study_dir, create=False) as store:
        eval_spec, res = store.get_meta("eval", {}), store.get_meta("resources", {})
        cpus, gpus = float(res.get("cpus", 1)), float(res.get("gpus", 0))
        refs = {}
        for task in [t for t in store.tasks() if t["status"] == "pending" and (ids is None or t["id"] in ids)]:
            ref = fn.options(num_cpus=cpus, num_gpus=gpus, max_retries=0).remote(
                str(study_dir), task["id"], task["config"], eval_spec,
                sorted(store.evaluated_steps(task["id"])), int(max(1, cpus)))
            store.mark_running(task["id"], host, pid)  # the driver owns the task while Ray runs it
            refs[ref] = task
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_S)
            for task in refs.values():
                store.heartbeat(task["id"], pid)
            for ref in ready:
                _record(ray, store, refs.pop(ref), ref)


def _record(ray, store: Store, task: dict[str, Any], ref) -> None:
    try:
        out = ray.get(ref)
    except Exception as err:  # the worker process died, or Ray could not run the task
        store.fail(task["id"], f"Ray task failed: {type(err).__name__}: {err}")
        log.error("[task %d] failed: %s", task["id"], err)
        return
    if "error" in out:
        store.fail(task["id"], out["error"])
        log.error("[task %d] failed:\n%s", task["id"], out["error"])
        return
    store.add_results(task["id"], [Record.from_json(row) for row in out["results"]])
    store.finish(task["id"], out["train_seconds"], out["eval_seconds"], out["note"])
    log.info("[task %d] done (%s) train %.1f s, eval %.1f s", task["id"], task["name"],
             out["train_seconds"], out["eval_seconds"])
