"""Progress of ``study run``: a live bar on a terminal, else exactly one plain line per finished task, e.g.
``[12/54 done, 2 running, 40 pending, 0 failed] task 12 done in 4.1s (elapsed 1m02s, ETA 3m10s)``.

The runner (local or Ray) calls ``StudyProgress.update`` with the study's tasks whenever it looks at them; the
progress compares them with the previous look, so it needs no event from the workers. The ETA is the work left
(``eta_seconds``) shared by the runner's workers.
"""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from ganscape.training.callbacks.progress import format_duration

STATUSES = ("done", "running", "pending", "failed")


def eta_seconds(durations: list[float], pending: int, running_for: list[float], workers: int) -> float | None:
    """Seconds until the remaining tasks end: each pending task takes the mean of ``durations`` (finished tasks),
    each running one the rest of the mean beyond the time it has run (``running_for``), spread over ``workers``
    (at most one per remaining task). None before any task has finished."""
    remaining = pending + len(running_for)
    if remaining == 0:
        return 0.0
    if not durations:
        return None
    mean = sum(durations) / len(durations)
    work = mean * pending + sum(max(0.0, mean - ran) for ran in running_for)
    return work / max(1, min(workers, remaining))


def counts_text(counts: dict[str, int]) -> str:
    """``12/54 done, 2 running, 40 pending, 0 failed``."""
    total = sum(counts.get(s, 0) for s in STATUSES)
    return f"{counts.get('done', 0)}/{total} done, " + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES[1:])


def eta_text(eta: float | None) -> str:
    return "?" if eta is None else format_duration(eta)


def seconds_text(seconds: float) -> str:
    """``4.1s`` under a minute, else ``format_duration`` (``2m05s``)."""
    return f"{seconds:.1f}s" if seconds < 60 else format_duration(seconds)


def task_line(counts: dict[str, int], task_id: int, status: str, took: float | None, elapsed: float,
              eta: float | None) -> str:
    """The line of one finished task: ``[COUNTS] task 12 done in 4.1s (elapsed 1m02s, ETA 3m10s)``."""
    outcome = "done in" if status == "done" else "failed after"
    took_text = f" {outcome} {seconds_text(took)}" if took is not None else f" {status}"
    return (f"[{counts_text(counts)}] task {task_id}{took_text} "
            f"(elapsed {format_duration(elapsed)}, ETA {eta_text(eta)})")


def task_seconds(task: dict[str, Any]) -> float | None:
    """Wall time of a task's last attempt (claimed to finished), None when not recorded."""
    if task.get("started") is None or task.get("finished") is None:
        return None
    return max(0.0, task["finished"] - task["started"])


class StudyProgress:
    """Shows a study run's progress on ``stream`` (default stderr): a tqdm bar when it is a terminal, else one
    line per task that ends (done, or failed for good) while it runs."""

    def __init__(self, workers: int, stream: TextIO | None = None, interactive: bool | None = None):
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.workers, self.started = workers, time.time()
        self.seen: dict[int, str] | None = None
        self.bar = None

    def eta(self, tasks: list[dict[str, Any]], now: float) -> float | None:
        durations = [d for t in tasks if t["status"] == "done" and (d := task_seconds(t)) is not None]
        running_for = [now - (t["started"] or now) for t in tasks if t["status"] == "running"]
        return eta_seconds(durations, sum(t["status"] == "pending" for t in tasks), running_for, self.workers)

    def update(self, tasks: list[dict[str, Any]]) -> None:
        """Look at the tasks (those this run may run) again: report the ones that ended since the last look."""
        now = time.time()
        counts = {s: sum(t["status"] == s for t in tasks) for s in STATUSES}
        eta, elapsed = self.eta(tasks, now), now - self.started
        ended = [t for t in tasks if t["status"] in ("done", "failed")
                 and self.seen is not None and self.seen.get(t["id"]) != t["status"]]
        self.seen = {t["id"]: t["status"] for t in tasks}
        if self.interactive:
            self.show_bar(counts, elapsed, eta)
            return
        for task in ended:
            print(task_line(counts, task["id"], task["status"], task_seconds(task), elapsed, eta),
                  file=self.stream, flush=True)

    def show_bar(self, counts: dict[str, int], elapsed: float, eta: float | None) -> None:
        text = f"{counts_text(counts)} | elapsed {format_duration(elapsed)}, ETA {eta_text(eta)}"
        if self.bar is None:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=sum(counts.values()), initial=counts["done"], desc=text, file=self.stream,
                            dynamic_ncols=True, bar_format="study: {percentage:3.0f}%|{bar}| {desc}")
            return
        self.bar.n = counts["done"]
        self.bar.set_description_str(text)  # and redraw

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
