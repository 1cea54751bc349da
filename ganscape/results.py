"""The one results schema: every metric value ganscape computes is one ``Record``.

Wherever a metric is computed (during training, by ``ganscape eval``, by a study's eval task) it becomes a record with
the same fields, written through ``ResultsWriter`` to the run's ``results.jsonl``; a study's database stores the same
fields (``studies/store.py``) and its report reads them back. Whether higher or lower is better comes from the metric
registry (``ganscape.metrics.direction``), never from the record."""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Iterable

from ganscape.utils.io import append_line, atomic_write_text, jsonl_lock, read_jsonl

RESULTS_FILE = "results.jsonl"


@dataclass(frozen=True)
class Record:
    """One metric value: ``run`` (run folder, or a label), ``step`` (of the weights), ``checkpoint`` (file name; "" when
    evaluated in memory at a step without a checkpoint), ``metric`` (protocol name, ``fid5k_lenet-digits``),
    ``value``, ``std`` (spread of the estimate: KID over subsets, IS over splits; else None), ``n`` (generated
    samples), ``extractor`` (the feature network's fingerprint; ``toy``/``raw`` when none), ``time`` (Unix time of
    computation)."""

    run: str
    step: int
    checkpoint: str
    metric: str
    value: float
    std: float | None
    n: int
    extractor: str
    time: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict: non-finite floats become the strings "nan", "inf", "-inf"."""
        return {k: str(v) if isinstance(v, float) and not math.isfinite(v) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> "Record":
        data = {f.name: row.get(f.name) for f in fields(cls)}  # float() reads "nan" and "inf" back
        return cls(**{**data, "value": float(data["value"]), "std": None if data["std"] is None else float(data["std"])})


@dataclass(frozen=True)
class MetricValue:
    """A metric value before it is tied to a run: protocol name, value, std, n, extractor."""

    metric: str
    value: float
    std: float | None
    n: int
    extractor: str

    def record(self, run: str, step: int, checkpoint: str = "") -> Record:
        std = None if self.std is None else float(self.std)
        return Record(run, step, checkpoint, self.metric, float(self.value), std, self.n, self.extractor, time.time())


class ResultsWriter:
    """Appends records to a ``results.jsonl`` (one JSON object per line, each line fsynced); its folder is made when
    missing. ``one_run``: the file is a run folder's own ``RUN_DIR/results.jsonl`` (``for_run``), so every record in
    it is of that run, whatever path its ``run`` field was given as."""

    def __init__(self, path: str | Path, one_run: bool = False):
        self.path, self.one_run = Path(path), one_run

    @classmethod
    def for_run(cls, run_dir: str | Path) -> "ResultsWriter":
        return cls(Path(run_dir) / RESULTS_FILE, one_run=True)

    def key(self, run: str | None, checkpoint: str | None, metric: str | None) -> tuple:
        """What makes two records the same result: checkpoint and metric, and the run unless the file is one run's
        (a stored relative ``run`` cannot be resolved: it was relative to the folder that command ran in)."""
        return (checkpoint, metric) if self.one_run else (same_place(run), checkpoint, metric)

    def write(self, records: Iterable[Record], replace_existing: bool = False) -> None:
        """Append ``records``. With ``replace_existing``, records already in the file for the same result (``key``)
        are dropped first (one atomic rewrite, with the new records): a study task whose worker was killed after
        writing a checkpoint's results, but before the study recorded them, evaluates that checkpoint again without
        doubling its rows. The file's lock (``jsonl_lock``) is held throughout, so a record another process appends
        meanwhile (a training run's evaluation beside ``ganscape eval``) is not lost in the rewrite."""
        records = list(records)
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with jsonl_lock(self.path) as fh:
            if replace_existing:
                keys = {self.key(r.run, r.checkpoint, r.metric) for r in records}
                rows = read_jsonl(self.path)
                kept = [row for row in rows
                        if self.key(row.get("run"), row.get("checkpoint"), row.get("metric")) not in keys]
                if len(kept) < len(rows):
                    rows = kept + [record.to_json() for record in records]
                    atomic_write_text(self.path, "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))
                    return
            for record in records:
                append_line(fh, record.to_json())


def same_place(run: str | None) -> str | None:
    """A record's run as a comparable path: ``runs/x``, ``runs/x/`` and ``/abs/runs/x`` typed in this folder are one
    run (a study's ``runs/task-0001`` names resolve the same way, all within one results file)."""
    return os.path.realpath(run) if run else run


def read_results(path: str | Path) -> list[Record]:
    """Every record of a results.jsonl (a torn last line is skipped)."""
    return [Record.from_json(row) for row in read_jsonl(path)]


def with_run(records: Iterable[Record], run: str) -> list[Record]:
    return [replace(r, run=run) for r in records]
