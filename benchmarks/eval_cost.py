"""What evaluation costs in a study task: train seconds, eval seconds and the eval share, per task and per phase.

    python benchmarks/eval_cost.py --study landscape-toy --tasks 3
    python benchmarks/eval_cost.py --study landscape-digits --tasks 3
    python benchmarks/eval_cost.py --study landscape-digits --tasks 4 --workers 2   # as `study run --workers 2`
    python benchmarks/eval_cost.py --study landscape-digits --ids 0,7,13 --threads 1

Each task runs as a study worker runs it (``ganscape.studies.execute.execute_task``: train, then evaluate every
checkpoint with the study's ``eval`` section), in a temporary study folder. Each worker process runs its tasks one
after another, so its first task pays what a study worker pays once (imports, loading the feature network, reading
cached reference features) and the later ones show the steady state. With ``--workers 2`` two processes run side by
side on the shared cores, as ``ganscape study run --workers 2`` does (threads per worker: cores / workers, as there),
so one worker's evaluation competes with the other's training. ``--tasks N`` picks N tasks spread evenly over the
study's plan (so different objectives are included); ``--ids`` names them.

The eval time is split into phases by timing the calls the runner makes (``ganscape.metrics.evaluate``): loading
the checkpoint's generator, drawing samples, building the feature extractor, featurising the generated samples,
getting the reference (real-data) features and each metric's computation; ``other`` is the rest (writing records,
the toy/stacked runners' own work). The disk caches (trained digit classifier, reference features) are the usual
ones under ``$GANSCAPE_CACHE`` (default ``~/.cache/ganscape``); ``--cache DIR`` points them elsewhere, e.g. at an
empty folder to see a cold start. Prints numbers; asserts nothing.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from common import ignore_interrupts, machine_line, run_stoppable

PHASES = ("load", "sample", "extractor", "fake_features", "reference")


class Timer:
    """Cumulative seconds per phase (and per metric) while installed."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, phase: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[phase] += time.perf_counter() - start
        timed.__wrapped__ = fn
        return timed

    def take(self) -> dict[str, float]:
        out, self.seconds = dict(self.seconds), defaultdict(float)
        return out


@contextmanager
def instrumented(timer: Timer) -> Iterator[None]:
    """Wrap the runner's calls with timers; restored afterwards."""
    import ganscape.loading as loading
    import ganscape.metrics.evaluate as evaluate

    saved: list[tuple[Any, str, Any]] = []

    def patch(module, name: str, new) -> None:
        saved.append((module, name, getattr(module, name)))
        setattr(module, name, new)

    load_sampler = loading.load_sampler

    def timed_load(*args, **kwargs):
        start = time.perf_counter()
        out = load_sampler(*args, **kwargs)
        timer.seconds["load"] += time.perf_counter() - start
        sampler = out[0] if isinstance(out, tuple) else out
        sampler.sample = timer.wrap("sample", sampler.sample)  # this instance only
        return out

    build_metric = evaluate.build_metric

    def timed_metric(*args, **kwargs):
        metric = build_metric(*args, **kwargs)
        metric.compute = timer.wrap(f"metric:{metric.name}", metric.compute)
        return metric

    patch(loading, "load_sampler", timed_load)
    patch(evaluate, "build_metric", timed_metric)
    patch(evaluate, "build_extractor", timer.wrap("extractor", evaluate.build_extractor))
    patch(evaluate, "extract", timer.wrap("fake_features", evaluate.extract))
    patch(evaluate, "reference_features", timer.wrap("reference", evaluate.reference_features))
    try:
        yield
    finally:
        for module, name, value in reversed(saved):
            setattr(module, name, value)


def pick(count: int, total: int) -> list[int]:
    if count >= total:
        return list(range(total))
    if count == 1:
        return [0]
    return sorted({round(i * (total - 1) / (count - 1)) for i in range(count)})


def run_tasks(study: str, ids: list[int], threads: int, study_dir: str) -> list[dict[str, Any]]:
    """Run tasks ``ids`` one after another in this process, as one study worker does; one row per task."""
    import torch

    from ganscape.metrics.protocol import EVAL_DEFAULTS
    from ganscape.studies.execute import execute_task
    from ganscape.studies.plan import plan_tasks
    from ganscape.studies.spec import read_study

    torch.set_num_threads(threads)
    spec = read_study(study)
    tasks = plan_tasks(spec)
    eval_spec = {**EVAL_DEFAULTS, **spec.eval}
    timer, rows = Timer(), []
    with instrumented(timer):
        for task_id in ids:
            task = tasks[task_id]
            result = execute_task(study_dir, task_id, task.config, eval_spec)
            last = result.results[max(result.results)] if result.results else []
            values = ", ".join(f"{r.metric}={r.value!r}" + (f" (std {r.std!r})" if r.std is not None else "")
                               for r in last)
            rows.append({"id": task_id, "name": task.name, "pid": os.getpid(), "first": not rows,
                         "train": result.train_seconds, "eval": result.eval_seconds,
                         "checkpoints": len(result.results), "phases": timer.take(), "values": values})
            print(format_row(rows[-1]), flush=True)
    return rows


def format_row(row: dict[str, Any]) -> str:
    share = row["eval"] / max(row["train"] + row["eval"], 1e-9)
    phases = row["phases"]
    parts = [f"{name} {phases[name]:.2f}" for name in PHASES if name in phases]
    parts += [f"{name} {value:.2f}" for name, value in sorted(phases.items()) if name.startswith("metric:")]
    parts.append(f"other {max(row['eval'] - sum(phases.values()), 0.0):.2f}")
    return (f"task {row['id']:3d} {row['name']:32s} pid {row['pid']:6d}  train {row['train']:7.2f} s  eval "
            f"{row['eval']:6.2f} s  share {share:6.1%}  ({row['checkpoints']} checkpoints)\n"
            f"    eval phases (s): " + ", ".join(parts))


def summary(label: str, rows: list[dict[str, Any]]) -> str:
    train, ev = sum(r["train"] for r in rows), sum(r["eval"] for r in rows)
    return f"{label} ({len(rows)} tasks): train {train:.2f} s, eval {ev:.2f} s, eval share {ev / (train + ev):.1%}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", default="landscape-toy", help="built-in study name or study YAML path")
    parser.add_argument("--tasks", type=int, default=3, help="how many tasks, spread over the plan (default 3)")
    parser.add_argument("--ids", default=None, help="comma-separated task ids (instead of --tasks)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes running the tasks side by side, as `study run --workers N` "
                             "(tasks dealt round-robin; default 1)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads per worker (default: cores / workers, as `study run`)")
    parser.add_argument("--cache", default=None, help="GANSCAPE_CACHE for this run (default: as set, or ~/.cache)")
    parser.add_argument("--out", default=None, help="study folder to train in (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.cache:
        os.environ["GANSCAPE_CACHE"] = args.cache

    from ganscape.studies.plan import plan_tasks
    from ganscape.studies.spec import read_study

    print(machine_line())
    spec = read_study(args.study)
    total = len(plan_tasks(spec))
    ids = [int(i) for i in args.ids.split(",")] if args.ids else pick(args.tasks, total)
    workers = max(1, min(args.workers, len(ids)))
    threads = args.threads or max(1, (os.cpu_count() or 1) // workers)
    print(f"study {spec.name}: {total} tasks; running {ids} in {workers} worker process(es) of {threads} "
          f"thread(s); eval {spec.eval['metrics']} n={spec.eval['n']}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        study_dir = args.out or tmp
        if workers == 1:
            rows = run_tasks(args.study, ids, threads, study_dir)
        else:
            # a multiprocessing Pool, not a ProcessPoolExecutor: on Ctrl-C or SIGTERM its exit terminates the
            # workers, where the executor's waits for their tasks to end; one worker process per share of the tasks
            with multiprocessing.get_context("spawn").Pool(workers, ignore_interrupts, maxtasksperchild=1) as pool:
                per_worker = pool.starmap(run_tasks, [(args.study, ids[w::workers], threads, study_dir)
                                                      for w in range(workers)], chunksize=1)
            rows = sorted((r for part in per_worker for r in part), key=lambda r: r["id"])
    print(summary("total", rows))
    later = [r for r in rows if not r["first"]]
    if later:
        print(summary("without each worker's first task", later))
    print("metric values of the last checkpoint of each task:")
    for row in rows:
        print(f"  task {row['id']:3d}: {row['values']}")


if __name__ == "__main__":
    run_stoppable(main)
