"""Run a study's tasks as Ray tasks, on a local Ray instance or an existing cluster.

Each task is a Ray task asking for the study's ``resources`` (``cpus``, ``gpus``). The remote function trains
and evaluates in ``STUDY_DIR/runs/task-NNNN`` (so on a multi-node cluster STUDY_DIR must be on a shared
filesystem) and *yields* each checkpoint's metrics as soon as they are computed (a retry evaluates only the
checkpoints without stored results, as a local worker's does); only this driver writes the SQLite database, which
therefore never needs network file locking. As with local workers, a task that raises is submitted again until it
has had ``MAX_ATTEMPTS`` (at once failed when its config is invalid), one whose worker dies until
``DEATH_ATTEMPTS``; then it is recorded as failed with its traceback or Ray's error. The other tasks go on.

A submitted task stays ``pending`` in the study while Ray queues it (e.g. behind busy CPUs or GPUs): the remote
function is a generator whose first value says it has started, and only then does the driver mark it running
(``Store.claim``, so a task another runner took meanwhile is cancelled rather than run twice).
"""
from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Iterator

from ganscape.plugins import plugin_names
from ganscape.registry import ConfigError
from ganscape.results import Record
from ganscape.studies.progress import StudyProgress
from ganscape.studies.store import DEATH_ATTEMPTS, MAX_ATTEMPTS, Store

log = logging.getLogger("ganscape.study")
POLL_S = 1.0       # how often the driver looks at its tasks (and updates the progress)
HEARTBEAT_S = 5.0  # how often it refreshes the heartbeat of the tasks it runs
STARTED = "started"
RUNNING, OVER, RETRY = "running", "over", "retry"  # what became of a task after its Ray task's next value


def remote_task(study_dir: str, task_id: int, config: dict[str, Any], eval_spec: dict[str, Any],
                done_steps: list[int], threads: int, plugins: list[str] = ()) -> Iterator[dict[str, Any]]:
    """Body of one Ray task: yields ``{"results": [...]}`` for each checkpoint as soon as it is evaluated (so the
    driver stores it, and a retry after the worker dies does not evaluate it again), then the outcome: timings, or
    the traceback of a failure. The task runs in a thread, since a generator cannot yield from a callback.
    ``plugins``: the driver's ``GANSCAPE_PLUGINS`` modules, imported first (a Ray worker need not share its
    environment)."""
    import torch

    from ganscape.plugins import import_plugins
    from ganscape.studies.execute import execute_task, no_retry_fixes

    import_plugins(list(plugins))
    torch.set_num_threads(max(1, threads))
    values: queue.Queue = queue.Queue()

    def body() -> None:
        try:
            result = execute_task(study_dir, task_id, config, eval_spec, set(done_steps), on_results=lambda _, rec:
                                  values.put({"results": [r.to_json() for r in rec]}))
            values.put({"train_seconds": result.train_seconds, "eval_seconds": result.eval_seconds,
                        "note": result.note})
        except Exception as err:
            values.put({"error": traceback.format_exc(), "permanent": no_retry_fixes(err)})
    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    while "results" in (value := values.get()):
        yield value
    thread.join()
    yield value


def started_then_result(*args) -> Iterator[Any]:
    """The Ray task (a generator): yields STARTED as soon as a worker runs it, then the values of
    ``remote_task(*args)``."""
    yield STARTED
    yield from remote_task(*args)


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


def slots(ray, cpus: float, gpus: float) -> int:
    """How many tasks of ``cpus`` CPUs and ``gpus`` GPUs the cluster runs at once (for the ETA)."""
    have = ray.cluster_resources()
    fits = [have.get(name, 0) // need for name, need in (("CPU", cpus), ("GPU", gpus)) if need > 0]
    return max(1, int(min(fits))) if fits else 1


def chosen(store: Store, ids: list[int] | None) -> list[dict[str, Any]]:
    """The study's tasks among ``ids`` (None: all)."""
    return [t for t in store.tasks() if ids is None or t["id"] in ids]


def warn_if_too_small(ray, cpus: float, gpus: float) -> None:
    """Say so when a task's ``resources`` exceed the whole Ray cluster: Ray keeps such tasks pending, saying only
    that no node has them. Only a warning: an autoscaling cluster may add the nodes, and whether this process
    started the instance it joined cannot be told."""
    have = ray.cluster_resources()
    for name, key, need in (("CPU", "cpus", cpus), ("GPU", "gpus", gpus)):
        if need > have.get(name, 0):
            log.warning("warning: resources.%s: each task asks for %g %s(s), and this Ray cluster has %g now: the "
                        "tasks wait until nodes that have them join, or for ever; stop it (Ctrl-C) and lower "
                        "resources.%s (or --num-cpus), or join a cluster that has them (--address)",
                        key, need, name, have.get(name, 0), key)


def _drive(ray, study_dir: Path, ids: list[int] | None) -> None:
    """Run the pending tasks (among ``ids``) as Ray tasks."""
    fn = ray.remote(started_then_result)
    owner = {"host": socket.gethostname(), "pid": os.getpid()}  # the driver owns the tasks while Ray runs them
    with Store(study_dir, create=False) as store:
        eval_spec, res = store.get_meta("eval", {}), store.get_meta("resources", {})
        cpus, gpus = float(res.get("cpus", 1)), float(res.get("gpus", 0))
        warn_if_too_small(ray, cpus, gpus)

        def submit(task: dict[str, Any]):
            return fn.options(num_cpus=cpus, num_gpus=gpus, max_retries=0).remote(
                str(study_dir), task["id"], task["config"], eval_spec,
                sorted(store.evaluated_steps(task["id"])), int(max(1, cpus)), plugin_names())

        gens = {submit(task): task for task in chosen(store, ids) if task["status"] == "pending"}
        progress, started, last_beat = StudyProgress(slots(ray, cpus, gpus)), set(), time.monotonic()
        try:
            while gens:
                progress.update(chosen(store, ids))
                ready, _ = ray.wait(list(gens), num_returns=len(gens), timeout=POLL_S)
                for gen in sorted(ready, key=lambda g: gens[g]["id"] not in started):  # ends before starts
                    outcome = _advance(ray, store, gen, gens[gen], started, owner)
                    if outcome != RUNNING:
                        task = gens.pop(gen)
                        started.discard(task["id"])
                    if outcome == RETRY:  # back to pending: a new Ray task resumes it from its checkpoint
                        gens[submit(task)] = task
                if time.monotonic() - last_beat > HEARTBEAT_S:
                    running = started & {t["id"] for t in gens.values()}
                    lost = {task_id for task_id in running if not store.heartbeat(task_id, owner["pid"])}
                    for gen in [g for g, t in gens.items() if t["id"] in lost]:  # requeued and taken by another runner
                        _cancelled(ray, gen, gens[gen]["id"], "taken over by another runner")
                        started.discard(gens.pop(gen)["id"])
                    last_beat = time.monotonic()
            progress.update(chosen(store, ids))
        except KeyboardInterrupt:
            release_started(ray, store, gens, started, owner["pid"])
            raise
        finally:
            progress.close()


def release_started(ray, store: Store, gens: dict[Any, dict[str, Any]], started: set[int], pid: int) -> None:
    """Ctrl-C or SIGTERM: cancel every Ray task (on a cluster they would go on running), and put the ones this
    driver started back to pending, their attempts not counted, as a local worker does: they resume from their
    newest checkpoints on the next run."""
    for gen, task in gens.items():
        ray.cancel(gen, force=True)
        if task["id"] in started:
            store.release(task["id"], "interrupted: the study run was stopped; re-run to resume", pid)


def _advance(ray, store: Store, gen, task: dict[str, Any], started: set[int], owner: dict[str, Any]) -> str:
    """Take a task's next value: its start (mark it running), a checkpoint's results (store them) or its outcome
    (record it). Returns RUNNING, OVER or RETRY (it failed and went back to pending)."""
    try:
        out = ray.get(next(gen))
    except Exception as err:  # the worker process died, or Ray could not run the task
        error = f"Ray task failed: {type(err).__name__}: {err}"
        if task["id"] in started:
            return _failed(store, task["id"], error, True, DEATH_ATTEMPTS, owner["pid"])
        # never started, so not retried (claim counts the attempts: Ray failing to start it would loop forever), and
        # recorded only while the task is still pending: another runner may have claimed it meanwhile
        if store.fail_unstarted(task["id"], error):
            log.error("[task %d] failed:\n%s", task["id"], error)
        else:
            log.warning("[task %d] Ray could not start it here, and another runner holds it meanwhile; nothing "
                        "recorded", task["id"])
        return OVER
    if isinstance(out, dict) and "results" in out:  # one checkpoint's records, while the task goes on
        if store.add_results(task["id"], [Record.from_json(row) for row in out["results"]], pid=owner["pid"]):
            return RUNNING
        return _cancelled(ray, gen, task["id"], "taken over by another runner")
    if out != STARTED:
        return _record(store, task, out, owner["pid"])
    if store.claim([task["id"]], **owner) is None:  # another runner took it while Ray queued it
        return _cancelled(ray, gen, task["id"], "run by another runner meanwhile")
    started.add(task["id"])
    return RUNNING


def _cancelled(ray, gen, task_id: int, why: str) -> str:
    """Stop a Ray task this driver no longer holds (``why``: what became of it); OVER."""
    log.warning("[task %d] %s; cancelled here", task_id, why)
    ray.cancel(gen, force=True)
    return OVER


def _failed(store: Store, task_id: int, error: str, retry: bool, limit: int, pid: int | None) -> str:
    """Record a failure (only while ``pid``, this driver, holds the task, when given): RETRY when the task went back
    to pending (``retry``, under ``limit`` attempts), else OVER."""
    status = store.fail(task_id, error, pid=pid, retry=retry, limit=limit)
    if status is None:
        log.warning("[task %d] taken over by another runner; its failure here is not recorded", task_id)
        return OVER
    log.error("[task %d] failed%s:\n%s", task_id, " (will retry)" if status == "pending" else "", error)
    return RETRY if status == "pending" else OVER


def _record(store: Store, task: dict[str, Any], out: dict[str, Any], pid: int) -> str:
    """Store a task's outcome, while ``pid`` (this driver) holds it; returns OVER, or RETRY when it failed and went
    back to pending."""
    if "error" in out:
        return _failed(store, task["id"], out["error"], not out.get("permanent"), MAX_ATTEMPTS, pid)
    if not store.finish(task["id"], out["train_seconds"], out["eval_seconds"], out["note"], pid=pid):
        log.warning("[task %d] taken over by another runner; its outcome here is not recorded", task["id"])
    return OVER
