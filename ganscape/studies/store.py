"""The study database: one SQLite file (``STUDY_DIR/study.db``) with tasks, results and status.

Every change is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``), so a worker killed at
any point leaves the database either before or after a change, never half-way. Results are
the records of ``ganscape.results`` (one row per record, the same fields), keyed by (task,
step, metric) and written with ``INSERT OR REPLACE``: evaluating a checkpoint twice (after a
resume) cannot duplicate rows. The file uses SQLite's WAL journal, which
needs a local disk; on a cluster only the driver writes it (see ``backends/ray.py``).
"""
from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ganscape.results import Record

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    factors TEXT NOT NULL,
    config TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    host TEXT, pid INTEGER, heartbeat REAL,
    started REAL, finished REAL,
    train_seconds REAL, eval_seconds REAL,
    error TEXT,
    note TEXT
);
CREATE TABLE IF NOT EXISTS results (
    task_id INTEGER NOT NULL REFERENCES tasks(id),
    run TEXT NOT NULL,
    step INTEGER NOT NULL,
    checkpoint TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    std REAL,
    n INTEGER NOT NULL,
    extractor TEXT NOT NULL,
    time REAL NOT NULL,
    PRIMARY KEY (task_id, step, metric)
);
"""
RESULT_COLUMNS = ("run", "step", "checkpoint", "metric", "value", "std", "n", "extractor", "time")
DB_NAME = "study.db"
STALE_AFTER_S = 120.0  # a running task whose heartbeat is older than this is orphaned


def db_path(study_dir: str | Path) -> Path:
    return Path(study_dir) / DB_NAME


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is dead for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


class Store:
    """Access to one study database; use as a context manager (closes the connection)."""

    def __init__(self, study_dir: str | Path, create: bool = True):
        self.study_dir = Path(study_dir)
        path = db_path(study_dir)
        if not create and not path.exists():
            from ganscape.registry import ConfigError
            raise ConfigError(f"{study_dir} is not a study folder (no {DB_NAME}); "
                              "create one with `ganscape study plan STUDY.yaml --out DIR`")
        self.conn = sqlite3.connect(path, timeout=60.0, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(SCHEMA)
        migrate_metrics_table(self.conn)

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An exclusive-write transaction: committed on success, rolled back on any error."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ----- study metadata -------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row["value"])

    def create(self, spec, tasks, digest: str) -> None:
        """Insert the plan (study facts and every task) in one transaction."""
        from ganscape.config import config_hash, load_config

        meta = {"name": spec.name, "description": spec.description, "plan_hash": digest,
                "base_config": load_config(spec.base), "eval": spec.eval, "resources": spec.resources,
                "report": spec.report, "axes": [a.key for a in spec.axes], "created": time.time()}
        with self.transaction() as db:
            db.execute("DELETE FROM results")
            db.execute("DELETE FROM tasks")
            for key, value in meta.items():
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))
            db.executemany(
                "INSERT INTO tasks (id, name, factors, config, config_hash) VALUES (?, ?, ?, ?, ?)",
                [(t.id, t.name, json.dumps(t.factors), json.dumps(t.config, sort_keys=True), config_hash(t.config))
                 for t in tasks])

    # ----- reading ----------------------------------------------------------------------
    def tasks(self) -> list[dict[str, Any]]:
        return [_task_row(r) for r in self.conn.execute("SELECT * FROM tasks ORDER BY id")]

    def task(self, task_id: int) -> dict[str, Any]:
        row = self.conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            from ganscape.registry import ConfigError
            count = self.conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
            raise ConfigError(f"--task: no task {task_id} in this study; valid ids: 0..{count - 1}")
        return _task_row(row)

    def results(self, task_id: int | None = None) -> list[tuple[int, Record]]:
        """(task id, record) of every stored result, ordered by task, step and metric."""
        sql, args = f"SELECT task_id, {', '.join(RESULT_COLUMNS)} FROM results", ()
        if task_id is not None:
            sql, args = sql + " WHERE task_id = ?", (task_id,)
        rows = self.conn.execute(sql + " ORDER BY task_id, step, metric", args)
        return [(r[0], Record(r[1], r[2], r[3], r[4], _from_sql(r[5]), None if r[6] is None else float(r[6]),
                              r[7], r[8], r[9])) for r in rows]

    def evaluated_steps(self, task_id: int) -> set[int]:
        rows = self.conn.execute("SELECT DISTINCT step FROM results WHERE task_id = ?", (task_id,))
        return {r[0] for r in rows}

    def counts(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status")
        return {r[0]: r[1] for r in rows}

    # ----- state changes ------------------------------------------------------------------
    def claim(self, allowed: list[int] | None = None, pid: int | None = None,
              host: str | None = None) -> dict[str, Any] | None:
        """Atomically take the lowest pending task (among ``allowed`` ids) and mark it running."""
        pid, host, now = pid or os.getpid(), host or socket.gethostname(), time.time()
        with self.transaction() as db:
            rows = db.execute("SELECT id FROM tasks WHERE status = 'pending' ORDER BY id").fetchall()
            ids = [r[0] for r in rows if allowed is None or r[0] in allowed]
            if not ids:
                return None
            db.execute("UPDATE tasks SET status = 'running', attempts = attempts + 1, host = ?, pid = ?, "
                       "heartbeat = ?, started = ?, finished = NULL, error = NULL WHERE id = ?",
                       (host, pid, now, now, ids[0]))
        return self.task(ids[0])

    def heartbeat(self, task_id: int, pid: int) -> None:
        with self.transaction() as db:
            db.execute("UPDATE tasks SET heartbeat = ? WHERE id = ? AND pid = ? AND status = 'running'",
                       (time.time(), task_id, pid))

    def add_results(self, task_id: int, records: list[Record]) -> None:
        with self.transaction() as db:
            db.executemany(f"INSERT OR REPLACE INTO results (task_id, {', '.join(RESULT_COLUMNS)}) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [(task_id, r.run, r.step, r.checkpoint, r.metric, _to_sql(r.value),
                             None if r.std is None else _to_sql(r.std), r.n, r.extractor, r.time) for r in records])

    def finish(self, task_id: int, train_seconds: float, eval_seconds: float, note: str | None = None) -> None:
        """Mark a task done; ``note`` records an outcome worth showing (e.g. a divergence)."""
        with self.transaction() as db:
            db.execute("UPDATE tasks SET status = 'done', finished = ?, train_seconds = ?, eval_seconds = ?, "
                       "error = NULL, note = ? WHERE id = ?", (time.time(), train_seconds, eval_seconds, note, task_id))

    def fail(self, task_id: int, error: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE tasks SET status = 'failed', finished = ?, error = ? WHERE id = ?",
                       (time.time(), error, task_id))

    def mark_running(self, task_id: int, host: str, pid: int) -> None:
        """Record that ``task_id`` was handed to a remote worker (Ray) identified by host/pid."""
        now = time.time()
        with self.transaction() as db:
            db.execute("UPDATE tasks SET status = 'running', attempts = attempts + 1, host = ?, pid = ?, "
                       "heartbeat = ?, started = ?, finished = NULL, error = NULL WHERE id = ?",
                       (host, pid, now, now, task_id))

    def requeue(self, ids: list[int] | None = None, retry_failed: bool = True) -> dict[str, int]:
        """Put orphaned running tasks (dead worker on this host, or stale heartbeat) and,
        with ``retry_failed``, failed tasks back to pending. Returns how many of each."""
        host, now = socket.gethostname(), time.time()
        requeued = {"interrupted": 0, "failed": 0}
        with self.transaction() as db:
            for row in db.execute("SELECT id, status, host, pid, heartbeat FROM tasks").fetchall():
                if ids is not None and row["id"] not in ids:
                    continue
                orphan = row["status"] == "running" and (
                    (row["host"] == host and not pid_alive(row["pid"]))
                    or now - (row["heartbeat"] or 0) > STALE_AFTER_S)
                failed = row["status"] == "failed" and retry_failed
                if orphan or failed:
                    db.execute("UPDATE tasks SET status = 'pending', pid = NULL WHERE id = ?", (row["id"],))
                    requeued["interrupted" if orphan else "failed"] += 1
        return requeued


def migrate_metrics_table(conn: sqlite3.Connection) -> None:
    """Move the rows of the first format's ``metrics`` table (name, value; stds as ``NAME_std``
    rows) into ``results`` records, then drop it."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'metrics'").fetchone():
        return
    rows = conn.execute("SELECT task_id, step, name, value FROM metrics").fetchall()
    stds = {(r[0], r[1], r[2][:-4]): r[3] for r in rows if r[2].endswith("_std")}
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(f"INSERT OR REPLACE INTO results (task_id, {', '.join(RESULT_COLUMNS)}) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [(t, f"runs/task-{t:04d}", s, f"ckpt-{s:08d}.pt", name, v, stds.get((t, s, name)), 0, "", 0.0)
                      for t, s, name, v in rows if not name.endswith("_std")])
    conn.execute("DROP TABLE metrics")
    conn.execute("COMMIT")


def _task_row(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out["factors"] = json.loads(out["factors"])
    out["config"] = json.loads(out["config"])
    return out


def _to_sql(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _from_sql(value: Any) -> float:
    return math.nan if value is None else float(value)
