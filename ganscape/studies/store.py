"""The study database: one SQLite file (``STUDY_DIR/study.db``) with tasks, results and status.

Every change is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``), so a worker killed at any point leaves the
database either before or after a change, never half-way; a change that meets a locked or busy database is retried
with backoff for up to ``RETRY_S`` seconds (``Store.write``). A running task belongs to the worker (host, pid)
that claimed it: its heartbeat, results and outcome are recorded only while it still owns the task. Results are the records of ``ganscape.results`` (one
row per record, the same fields), keyed by (task, step, metric) and written with ``INSERT OR REPLACE``: evaluating
a checkpoint twice (after a resume) cannot duplicate rows. The file uses SQLite's WAL journal, which needs a
local disk; on a cluster only the driver writes it (see ``backends/ray.py``).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import socket
import sqlite3
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from ganscape.registry import ConfigError
from ganscape.results import Record

SCHEMA = """
BEGIN;  -- the tables are made together or not at all (a plan killed between two left a database of some)
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, factors TEXT NOT NULL, config TEXT NOT NULL, config_hash TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0, host TEXT, pid INTEGER, heartbeat REAL, started REAL, finished REAL,
    train_seconds REAL, eval_seconds REAL, error TEXT, note TEXT
);
CREATE TABLE IF NOT EXISTS results (
    task_id INTEGER NOT NULL REFERENCES tasks(id),
    run TEXT NOT NULL, step INTEGER NOT NULL, checkpoint TEXT NOT NULL, metric TEXT NOT NULL,
    value REAL, std REAL, n INTEGER NOT NULL, extractor TEXT NOT NULL, time REAL NOT NULL,
    PRIMARY KEY (task_id, step, metric)
);
COMMIT;
"""
RESULT_COLUMNS = ("run", "step", "checkpoint", "metric", "value", "std", "n", "extractor", "time")
INSERT_RESULT = (f"INSERT OR REPLACE INTO results (task_id, {', '.join(RESULT_COLUMNS)}) "
                 f"VALUES (?, {', '.join('?' for _ in RESULT_COLUMNS)})")
SET_RUNNING = ("UPDATE tasks SET status = 'running', attempts = attempts + 1, host = ?, pid = ?, heartbeat = ?, "
               "started = ?, finished = NULL, error = NULL WHERE id = ?")
DB_NAME = "study.db"
STALE_AFTER_S = 120.0  # a running task whose heartbeat (refreshed every 5-10 s) is older is orphaned
MAX_ATTEMPTS = 3       # a task that crashes is retried until it has had this many attempts ...
DEATH_ATTEMPTS = 6     # ... and one whose worker dies (killed, out of memory) this many: random kills do not fail a
                       # healthy task, a task that kills its worker every time still ends
RETRY_S = 60.0         # how long a change is retried while the database is locked or busy
T = TypeVar("T")


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


def contended(err: sqlite3.OperationalError) -> bool:
    """A locked or busy database, which waiting cures; not a full disk, an I/O error or a read-only file."""
    return any(word in str(err).lower() for word in ("locked", "busy"))


class Store:
    """Access to one study database; use as a context manager (closes the connection)."""

    def __init__(self, study_dir: str | Path, create: bool = True, read_only: bool = False):
        """``read_only``: only reading (status, report). A study folder this process cannot write (a read-only mount,
        another user's study) is then opened read-only: with its write-ahead log when there is one (the newest
        commits of a running study are there), else as an unchanging file (SQLite could not create the log); a
        first-format database there is migrated in a copy in memory (``migrate_metrics_table``)."""
        self.study_dir = Path(study_dir)
        path = self.study_dir / DB_NAME
        if not create and not path.exists():
            raise ConfigError(f"{study_dir} is not a study folder (no {DB_NAME}); "
                              "create one with `ganscape study plan STUDY.yaml --out DIR`")
        existed = path.exists() and path.stat().st_size > 0
        if read_only and not os.access(self.study_dir, os.W_OK):
            self.conn = read_only_connection(path)
            return
        self.conn = sqlite3.connect(path, timeout=60.0, isolation_level=None)
        if existed:
            check_study_database(self.conn, path)  # before anything is written into it
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
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def write(self, change: Callable[[sqlite3.Connection], T]) -> T:
        """``change(db)`` in one transaction, retried with backoff while SQLite reports an operational error
        (locked or busy database) for up to RETRY_S seconds; then the error is raised."""
        deadline, delay = time.monotonic() + RETRY_S, 0.02
        while True:
            try:
                with self.transaction() as db:
                    return change(db)
            except sqlite3.OperationalError as err:
                if not contended(err) or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(2 * delay, 1.0)

    # ----- study metadata -------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row["value"])

    def set_meta(self, key: str, value: Any) -> None:
        self.write(lambda db: db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                         (key, json.dumps(value))))

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
        return {r[0] for r in self.conn.execute("SELECT DISTINCT step FROM results WHERE task_id = ?", (task_id,))}

    def counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.conn.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status")}

    # ----- state changes ------------------------------------------------------------------
    def claim(self, allowed: list[int] | None = None, pid: int | None = None,
              host: str | None = None) -> dict[str, Any] | None:
        """Atomically take the lowest pending task (among ``allowed`` ids) and mark it running for (host, pid)."""
        pid, host, now = pid or os.getpid(), host or socket.gethostname(), time.time()

        def change(db) -> int | None:
            ids = [r[0] for r in db.execute("SELECT id FROM tasks WHERE status = 'pending' ORDER BY id")
                   if allowed is None or r[0] in allowed]
            if ids:
                db.execute(SET_RUNNING, (host, pid, now, now, ids[0]))
            return ids[0] if ids else None
        task_id = self.write(change)
        return None if task_id is None else self.task(task_id)

    def owns(self, db: sqlite3.Connection, task_id: int, pid: int | None) -> bool:
        """Whether ``pid`` (None: whoever) still holds ``task_id`` as running."""
        row = db.execute("SELECT status, pid FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return pid is None or (row is not None and row["status"] == "running" and row["pid"] == pid)

    def heartbeat(self, task_id: int, pid: int) -> bool:
        """Refresh the heartbeat of a task ``pid`` runs; False when it no longer holds the task."""
        def change(db) -> bool:
            return db.execute("UPDATE tasks SET heartbeat = ? WHERE id = ? AND pid = ? AND status = 'running'",
                              (time.time(), task_id, pid)).rowcount > 0
        return self.write(change)

    def add_results(self, task_id: int, records: list[Record], pid: int | None = None) -> bool:
        """Store result records (only while ``pid`` holds the task, when given); False if it does not."""
        rows = [(task_id, r.run, r.step, r.checkpoint, r.metric, _to_sql(r.value),
                 None if r.std is None else _to_sql(r.std), r.n, r.extractor, r.time) for r in records]

        def change(db) -> bool:
            if not self.owns(db, task_id, pid):
                return False
            db.executemany(INSERT_RESULT, rows)
            return True
        return self.write(change)

    def finish(self, task_id: int, train_seconds: float, eval_seconds: float, note: str | None = None,
               pid: int | None = None) -> bool:
        """Mark a task done (only while ``pid`` holds it, when given); ``note`` records an outcome worth showing
        (e.g. a divergence). Returns whether it was recorded."""
        def change(db) -> bool:
            if not self.owns(db, task_id, pid):
                return False
            db.execute("UPDATE tasks SET status = 'done', finished = ?, train_seconds = ?, eval_seconds = ?, "
                       "error = NULL, note = ? WHERE id = ?", (time.time(), train_seconds, eval_seconds, note, task_id))
            return True
        return self.write(change)

    def fail(self, task_id: int, error: str, pid: int | None = None, retry: bool = False,
             limit: int = MAX_ATTEMPTS) -> str | None:
        """Record a failure (only while ``pid`` holds the task, when given). With ``retry`` the task goes back to
        pending until it has had ``limit`` attempts (DEATH_ATTEMPTS when its worker died); returns the new status
        (None when ``pid`` no longer held it)."""
        def change(db) -> str | None:
            if not self.owns(db, task_id, pid):
                return None
            attempts = db.execute("SELECT attempts FROM tasks WHERE id = ?", (task_id,)).fetchone()[0]
            status = "pending" if retry and attempts < limit else "failed"
            db.execute("UPDATE tasks SET status = ?, finished = ?, error = ?, pid = NULL WHERE id = ?",
                       (status, time.time(), error, task_id))
            return status
        return self.write(change)

    def fail_unstarted(self, task_id: int, error: str) -> bool:
        """Record that a task could not be started (a Ray task Ray could not run): failed, without an attempt, only
        while it is still pending; False when another runner claimed it (or it ended) meanwhile."""
        def change(db) -> bool:
            return db.execute("UPDATE tasks SET status = 'failed', finished = ?, error = ? "
                              "WHERE id = ? AND status = 'pending'", (time.time(), error, task_id)).rowcount > 0
        return self.write(change)

    def release(self, task_id: int, note: str, pid: int | None = None) -> bool:
        """Put a task its worker was told to stop (Ctrl-C, SIGTERM) back to pending, its attempt not counted: it
        resumes from its newest checkpoint on the next run. False when ``pid`` no longer held it."""
        def change(db) -> bool:
            if not self.owns(db, task_id, pid):
                return False
            db.execute("UPDATE tasks SET status = 'pending', pid = NULL, attempts = MAX(attempts - 1, 0), error = ? "
                       "WHERE id = ?", (note, task_id))
            return True
        return self.write(change)

    def orphans(self, db: sqlite3.Connection, ids: list[int] | None, watch: LeaseWatch | None = None) -> list[int]:
        """Running tasks whose worker is gone: a stale heartbeat (``LeaseWatch.stale``), or on this host a dead pid.
        A live pid alone does not keep a task: after a restart (same host name, pids counted from 1 again) it may be
        another program's."""
        host, watch = socket.gethostname(), watch or LeaseWatch()
        running = db.execute("SELECT id, host, pid, heartbeat FROM tasks WHERE status = 'running'").fetchall()
        watch.forget_all_but({row["id"] for row in running})
        return [row["id"] for row in running
                if (ids is None or row["id"] in ids)
                and (watch.stale(row["id"], row["heartbeat"] or 0.0)
                     or row["host"] == host and not pid_alive(row["pid"]))]

    def requeue(self, ids: list[int] | None = None, retry_failed: bool = True,
                watch: LeaseWatch | None = None) -> dict[str, int]:
        """Put orphaned running tasks (see ``orphans``; failed once they have had DEATH_ATTEMPTS) and, with
        ``retry_failed``, failed tasks back to pending. Returns how many of each were requeued. A runner that
        requeues again and again passes its ``watch``, so that a jump of the wall clock orphans nothing."""
        def change(db) -> dict[str, int]:
            requeued = {"interrupted": 0, "failed": 0}
            for task_id in self.orphans(db, ids, watch):
                attempts = db.execute("SELECT attempts FROM tasks WHERE id = ?", (task_id,)).fetchone()[0]
                status = "pending" if attempts < DEATH_ATTEMPTS else "failed"
                db.execute("UPDATE tasks SET status = ?, pid = NULL, error = COALESCE(error, ?) WHERE id = ?",
                           (status, f"its worker stopped answering after {attempts} attempt(s)", task_id))
                requeued["interrupted"] += status == "pending"
            if retry_failed:
                failed = [r[0] for r in db.execute("SELECT id FROM tasks WHERE status = 'failed'")
                          if ids is None or r[0] in ids]
                db.executemany("UPDATE tasks SET status = 'pending', attempts = 0 WHERE id = ?", [(i,) for i in failed])
                requeued["failed"] = len(failed)
            return requeued
        return self.write(change)


class LeaseWatch:
    """The heartbeats a long-lived runner has seen, each with when it first saw it on its own monotonic clock.

    A heartbeat is the wall-clock time of its worker's host, the only clock every host shares. Judged by the wall
    clock alone, a jump of this host's clock (an NTP step, a resume from suspend) would make every heartbeat look
    old and orphan every running task, and one set back would keep a dead worker's task forever. So a task this
    watch has looked at before is stale when its heartbeat has not changed for STALE_AFTER_S on the monotonic clock
    (which neither an NTP step nor a suspend moves); only at the first look, with nothing to compare, is the
    heartbeat's wall-clock age all there is."""

    def __init__(self, wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic):
        self.wall, self.monotonic = wall, monotonic
        self.seen: dict[int, tuple[float, float]] = {}  # task id -> (heartbeat, monotonic time it was first seen)

    def stale(self, task_id: int, heartbeat: float) -> bool:
        """Whether the worker of ``task_id``, whose heartbeat now reads ``heartbeat`` (wall-clock seconds), has
        stopped answering."""
        last = self.seen.get(task_id)
        if last is not None and last[0] == heartbeat:
            return self.monotonic() - last[1] > STALE_AFTER_S
        age = 0.0 if last is not None else self.wall() - heartbeat  # one that changed since the last look beat
        self.seen[task_id] = (heartbeat, self.monotonic() - min(max(age, 0.0), STALE_AFTER_S))
        return age > STALE_AFTER_S

    def forget_all_but(self, running: set[int]) -> None:
        """Drop what was seen of tasks no longer running (one taken again later starts afresh)."""
        self.seen = {task_id: seen for task_id, seen in self.seen.items() if task_id in running}


STUDY_TABLES = {"meta", "tasks"}  # of every format (the first kept results in ``metrics``, today's in ``results``)


def check_study_database(conn: sqlite3.Connection, path: Path, writable: bool = True) -> None:
    """ConfigError, the connection closed, unless ``path`` is a study database: another program's ``study.db`` was
    opened as a study of 0 tasks, and ganscape's tables were added to it, by ``study status`` too. A file of no
    tables (a plan killed before it made them) is a new study database where it can be written (``writable``)."""
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as err:  # not SQLite at all ("file is not a database")
        conn.close()
        raise ConfigError(f"{path} is not a ganscape study database ({err})") from None
    if (tables or not writable) and not STUDY_TABLES <= tables:
        conn.close()
        raise ConfigError(f"{path} is not a ganscape study database: its tables are "
                          f"{', '.join(sorted(tables)) or 'none'}, where a study's has "
                          f"{', '.join(sorted(STUDY_TABLES))}; move it away or use another folder")


def read_only_connection(path: Path) -> sqlite3.Connection:
    """The database at ``path`` opened for reading in a folder this process cannot write: with its write-ahead log
    when there is one, else as an unchanging file. A log without its index (``-shm``, which SQLite would have to
    create beside it; a copy or backup that left the index out) is read from a copy in a temporary folder. A
    first-format database is migrated in a copy in memory, so its results are read as a writable folder's are. The
    folder is left as it was."""
    log, index = path.with_name(f"{DB_NAME}-wal"), path.with_name(f"{DB_NAME}-shm")
    if log.exists() and not index.exists():
        conn = copied_into_memory(path, log)
    else:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro{'' if log.exists() else '&immutable=1'}", uri=True)
    check_study_database(conn, path, writable=False)
    if has_metrics_table(conn):
        conn = into_memory(conn)
        conn.executescript(SCHEMA)
        migrate_metrics_table(conn)
    conn.row_factory = sqlite3.Row
    return conn


def into_memory(conn: sqlite3.Connection) -> sqlite3.Connection:
    """A copy of ``conn``'s database in memory (writable, autocommit); ``conn`` is closed."""
    memory = sqlite3.connect(":memory:", isolation_level=None)
    conn.backup(memory)
    conn.close()
    return memory


def copied_into_memory(path: Path, log: Path) -> sqlite3.Connection:
    """The database at ``path`` with its write-ahead ``log``, read from copies of both in a temporary folder (where
    SQLite may create the log's index) into memory."""
    with tempfile.TemporaryDirectory(prefix="ganscape-study-") as folder:
        copy = Path(folder) / DB_NAME
        shutil.copyfile(path, copy)
        shutil.copyfile(log, copy.with_name(log.name))
        return into_memory(sqlite3.connect(copy))


def has_metrics_table(conn: sqlite3.Connection) -> bool:
    """Whether the database is of the first format (results in a ``metrics`` table)."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'metrics'").fetchone() is not None


def migrate_metrics_table(conn: sqlite3.Connection) -> None:
    """Move the rows of the first format's ``metrics`` table (name, value; stds as ``NAME_std``
    rows) into ``results`` records, then drop it."""
    if not has_metrics_table(conn):
        return
    rows = conn.execute("SELECT task_id, step, name, value FROM metrics").fetchall()
    stds = {(r[0], r[1], r[2][:-4]): r[3] for r in rows if r[2].endswith("_std")}
    conn.execute("BEGIN IMMEDIATE")  # once, when an old study folder is first opened
    conn.executemany(INSERT_RESULT,
                     [(t, f"runs/task-{t:04d}", s, f"ckpt-{s:08d}.pt", name, v, stds.get((t, s, name)), 0, "", 0.0)
                      for t, s, name, v in rows if not name.endswith("_std")])
    conn.execute("DROP TABLE metrics")
    conn.execute("COMMIT")


def _task_row(row: sqlite3.Row) -> dict[str, Any]:
    return {**dict(row), "factors": json.loads(row["factors"]), "config": json.loads(row["config"])}


def _to_sql(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _from_sql(value: Any) -> float:
    return math.nan if value is None else float(value)
