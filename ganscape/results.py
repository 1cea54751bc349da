"""The one results schema: every metric value ganscape computes is one ``Record``.

Wherever a metric is computed (during training, by ``ganscape eval``, by a study's eval task),
it becomes a record with the same fields, written through ``ResultsWriter`` to the run's
``results.jsonl``; a study's database stores the same records (``studies/store.py``) and its
report reads them back. Whether higher or lower is better comes from the metric registry
(``ganscape.metrics.direction``), never from the record.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Iterable

from ganscape.utils.io import append_jsonl, atomic_write_text, read_jsonl

RESULTS_FILE = "results.jsonl"


@dataclass(frozen=True)
class Record:
    """One metric value.

    run: run folder (or a label for in-memory runs); step: training step of the weights;
    checkpoint: checkpoint file name, or "" when evaluated in memory; metric: protocol name
    (``fid5k_lenet-digits``); value; std: spread of the estimate where the metric has one
    (KID over subsets, IS over splits), else None; n: generated samples; extractor: the
    feature network's fingerprint (``toy``/``raw`` when none); time: Unix time of computation.
    """

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
        return {k: _json_number(v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> "Record":
        names = {f.name for f in fields(cls)}
        data = {k: row.get(k) for k in names}
        data["value"] = _number(data["value"])
        data["std"] = None if data["std"] is None else _number(data["std"])
        return cls(**data)


@dataclass(frozen=True)
class MetricValue:
    """A metric value before it is tied to a run: protocol name, value, std, n, extractor."""

    metric: str
    value: float
    std: float | None
    n: int
    extractor: str

    def record(self, run: str, step: int, checkpoint: str = "", when: float | None = None) -> Record:
        return Record(run, step, checkpoint, self.metric, float(self.value),
                      None if self.std is None else float(self.std), self.n, self.extractor,
                      time.time() if when is None else when)


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _number(value: Any) -> float:
    return float(value)  # float("nan"), float("inf") parse the JSON-safe strings


class ResultsWriter:
    """Appends records to a ``results.jsonl`` (one JSON object per line, each line fsynced)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def write(self, records: Iterable[Record]) -> None:
        for record in records:
            append_jsonl(self.path, record.to_json())

    def truncate_after(self, step: int) -> None:
        """Drop records of steps after ``step`` (computed after the checkpoint a run resumes from)."""
        rows = read_jsonl(self.path)
        kept = [r for r in rows if int(r.get("step", 0)) <= step]
        if len(kept) != len(rows):
            atomic_write_text(self.path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))


def read_results(path: str | Path) -> list[Record]:
    """Every record of a results.jsonl (a torn last line is skipped)."""
    return [Record.from_json(row) for row in read_jsonl(path)]


def with_run(records: Iterable[Record], run: str) -> list[Record]:
    return [replace(r, run=run) for r in records]
