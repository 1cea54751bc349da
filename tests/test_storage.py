"""When the file system refuses (a full disk, a file size limit, a read-only study folder, a name too long, a closed
stderr), a command says so in one line, keeps what it finished, and a study does not spin on it."""
from __future__ import annotations

import errno
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganscape.registry import ConfigError
from ganscape.studies import Store, read_study, write_plan

TINY = ["train.sample_every=0", "train.checkpoint_every=10", "--no-progress"]


def ganscape(cwd: Path, *args: str, file_limit: int | None = None, shell_suffix: str = ""):
    def limit():  # the soft limit only: a user without privileges may not raise the hard one
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    command = [sys.executable, "-m", "ganscape", *args]
    if shell_suffix:  # e.g. ``2>&-``: the shell closes stderr before the program starts
        command = ["bash", "-c", " ".join(f"'{a}'" for a in command) + " " + shell_suffix]
    return subprocess.run(command, cwd=cwd, capture_output=not shell_suffix, text=True, timeout=600,
                          preexec_fn=limit if file_limit else None)


def test_a_checkpoint_beyond_the_file_size_limit_is_one_line_and_the_earlier_ones_stay(tmp_path):
    """torch's zip writer reported it as "RuntimeError: [enforce fail at inline_container.cc] unexpected pos", in a
    25-line traceback that never named the cause."""
    first = ganscape(tmp_path, "train", "ring8", "train.steps=10", *TINY, "--out", "r")
    assert first.returncode == 0, first.stderr[-2000:]
    limited = ganscape(tmp_path, "train", "ring8", "train.steps=20", *TINY, "--out", "r", file_limit=300_000)
    last = limited.stderr.strip().splitlines()[-1]
    assert limited.returncode == 1 and "Traceback" not in limited.stderr, limited.stderr[-2000:]
    assert last == ("ganscape: error: r/checkpoints/ckpt-00000020.pt: File too large (the file is larger than this "
                    "process may write (ulimit -f)); once that is fixed, run the same command again (finished "
                    "checkpoints and results are kept)")
    assert sorted(p.name for p in (tmp_path / "r" / "checkpoints").iterdir()) == ["ckpt-00000010.pt"]
    again = ganscape(tmp_path, "train", "ring8", "train.steps=20", *TINY, "--out", "r")
    assert again.returncode == 0 and "resuming r from step 10" in again.stderr, again.stderr[-2000:]


def test_a_full_disk_fails_a_study_task_at_once_and_the_database_does_not_wait_on_it(tmp_path):
    """A task whose checkpoint did not fit was retried until its attempts ran out, and the worker's SQLite writes
    retried "database or disk is full" for a minute each, as if the database were locked."""
    from ganscape.studies.execute import no_retry_fixes

    assert no_retry_fixes(OSError(errno.ENOSPC, "No space left on device"))
    assert no_retry_fixes(OSError(errno.EFBIG, "File too large"))
    assert not no_retry_fixes(OSError(errno.ECONNRESET, "Connection reset"))
    with Store(tmp_path) as store:
        def full(db):
            raise sqlite3.OperationalError("database or disk is full")
        start = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="disk is full"):
            store.write(full)
        assert time.monotonic() - start < 1.0


def test_status_and_report_read_a_study_folder_they_cannot_write(tmp_path, monkeypatch, capsys):
    """A read-only study folder (a read-only mount, another user's study): status and report opened the database
    for writing and stopped with "unable to open database file". A study still running keeps its newest commits in
    SQLite's write-ahead log, which a read-only reader must see too."""
    from ganscape.cli import main

    study = {"name": "ro", "base": "ring8", "overrides": ["train.steps=10"], "grid": {"loss.name": ["hinge"]}}
    write_plan(read_study(study), tmp_path / "s")
    before = sorted(p.name for p in (tmp_path / "s").iterdir())  # closed: no log files
    real_access, real_connect, opened = os.access, sqlite3.connect, []
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == tmp_path / "s" and
                        mode == os.W_OK else real_access(path, mode, **kw))  # as root, only a mount would refuse

    def connect(database, *args, **kwargs):
        opened.append(str(database))
        return real_connect(database, *args, **kwargs)
    monkeypatch.setattr(sqlite3, "connect", connect)
    assert main(["study", "status", str(tmp_path / "s")]) == 0
    assert main(["study", "report", str(tmp_path / "s"), "--out", str(tmp_path / "r.csv")]) == 0
    assert opened and all(name.endswith("study.db?mode=ro&immutable=1") for name in opened), opened
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == before  # no -wal or -shm file made there
    monkeypatch.setattr(sqlite3, "connect", real_connect)
    with Store(tmp_path / "s") as running:  # a worker's store, open: its commit stays in the log
        running.claim([0])
        running.finish(0, 1.0, 0.5)
        monkeypatch.setattr(sqlite3, "connect", connect)
        opened.clear()
        assert main(["study", "status", str(tmp_path / "s")]) == 0
        assert opened == [f"{(tmp_path / 's' / 'study.db').resolve().as_uri()}?mode=ro"]
    assert "1 done" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["status", "run", "report"])
@pytest.mark.parametrize("writable", [True, False])
def test_another_programs_study_db_is_refused_and_left_as_it_was(tmp_path, capsys, monkeypatch, command, writable):
    """An unrelated SQLite ``study.db`` (or a file that is not SQLite) was opened as a study of 0 tasks, exit 0, and
    ganscape's tables were added to it, by ``study status`` too."""
    from ganscape.cli import main

    folder = tmp_path / "s"
    folder.mkdir()
    with sqlite3.connect(folder / "study.db") as db:
        db.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "study.db").write_bytes(b"not a database at all, but long enough to look like one" * 4)
    before = {p: p.read_bytes() for p in (folder / "study.db", tmp_path / "other" / "study.db")}
    if not writable:  # the read-only connection of status and report; as root, only a mount would refuse
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) in (folder, tmp_path / "other")
                            and mode == os.W_OK else real_access(path, mode, **kw))
    extra = {"run": ["--all"], "report": ["--out", str(tmp_path / "r.html")], "status": []}[command]
    assert main(["study", command, str(folder), *extra]) == 2
    assert (f"{folder / 'study.db'} is not a ganscape study database: its tables are photos, where a study's has "
            "meta, tasks") in capsys.readouterr().err
    assert main(["study", command, str(tmp_path / "other"), *extra]) == 2
    assert "is not a ganscape study database (file is not a database)" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in folder.iterdir()) == ["study.db"] and not (tmp_path / "r.html").exists()


def test_a_study_db_without_tables_is_a_new_study_database(tmp_path):
    """A plan killed between creating study.db (the WAL pragma writes its first page) and making the tables left a
    file of no tables; it is taken as new, not refused as another program's."""
    (tmp_path / "s").mkdir()
    db = sqlite3.connect(tmp_path / "s" / "study.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    assert (tmp_path / "s" / "study.db").stat().st_size > 0
    with Store(tmp_path / "s") as store:
        assert store.tasks() == []


def test_a_study_db_without_tables_in_a_folder_that_cannot_be_written_is_refused(tmp_path, monkeypatch, capsys):
    """Read-only, nothing can make the tables: it is refused as no study database, not "no such table: tasks"."""
    from ganscape.cli import main

    (tmp_path / "s").mkdir()
    db = sqlite3.connect(tmp_path / "s" / "study.db")
    db.execute("PRAGMA user_version = 1")  # a file of one page and no tables
    db.close()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == tmp_path / "s" and
                        mode == os.W_OK else real_access(path, mode, **kw))
    assert main(["study", "status", str(tmp_path / "s")]) == 2
    assert "is not a ganscape study database: its tables are none" in capsys.readouterr().err


FIRST_FORMAT_METRICS = """CREATE TABLE metrics (task_id INTEGER NOT NULL REFERENCES tasks(id), step INTEGER NOT NULL,
    name TEXT NOT NULL, value REAL, PRIMARY KEY (task_id, step, name))"""


def first_format_study(folder: Path, checkpoint: bool = True) -> sqlite3.Connection:
    """A planned study whose database is of the first format (results in a ``metrics`` table, no ``results``), and
    the connection that wrote it: closed when ``checkpoint`` (the rows are in the file), else left open with the
    rows in the write-ahead log alone, as a running first-format study's newest results are."""
    study = {"name": "old", "base": "ring8", "overrides": ["train.steps=10"], "grid": {"loss.name": ["hinge", "wgan"]}}
    write_plan(read_study(study), folder)
    db = sqlite3.connect(folder / "study.db", isolation_level=None)
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("DROP TABLE results")
    db.execute(FIRST_FORMAT_METRICS)
    db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?)",
                   [(0, 10, "fid", 3.5), (0, 10, "fid_std", 0.25), (1, 10, "modes", 7.0)])
    if checkpoint:
        db.close()  # the last connection: its write-ahead log goes into the file
    return db


def test_a_first_format_study_is_read_in_a_folder_it_can_write_or_not(tmp_path, monkeypatch):
    """The first study format kept results in a ``metrics`` table (a value per name, its std as a ``NAME_std`` row).
    A folder that can be written is migrated on first opening; one that cannot (a read-only mount, another user's
    study) was opened as it is, so its results were not found: now they are migrated in a copy in memory, with the
    newest commits of a running study's write-ahead log, and the folder is left as it was."""
    first_format_study(tmp_path / "writable")
    first_format_study(tmp_path / "read-only")
    running = first_format_study(tmp_path / "running", checkpoint=False)
    unwritable = {tmp_path / "read-only", tmp_path / "running"}
    files = {folder: {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} for folder in unwritable}
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) in unwritable and
                        mode == os.W_OK else real_access(path, mode, **kw))  # as root, only a mount would refuse
    for folder in ("writable", "read-only", "running"):
        with Store(tmp_path / folder, create=False, read_only=True) as store:
            got = sorted((task, r.step, r.metric, r.value, r.std, r.checkpoint) for task, r in store.results())
        assert got == [(0, 10, "fid", 3.5, 0.25, "ckpt-00000010.pt"), (1, 10, "modes", 7.0, None, "ckpt-00000010.pt")]
    from ganscape.cli import main

    assert main(["study", "report", str(tmp_path / "read-only"), "--out", str(tmp_path / "r.csv")]) == 0
    assert "3.5" in (tmp_path / "r.csv").read_text()
    for folder in unwritable:  # every file as it was, and no new one (readers of a log may mark its index, -shm)
        now = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        assert now.keys() == files[folder].keys()
        assert {name: data for name, data in now.items() if not name.endswith("-shm")} == {
            name: data for name, data in files[folder].items() if not name.endswith("-shm")}
    assert "study.db-wal" in files[tmp_path / "running"]
    running.close()
    db = sqlite3.connect(tmp_path / "writable" / "study.db")  # migrated on disk there
    assert not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'metrics'").fetchone()
    db.close()


def test_a_study_copied_without_its_log_index_is_read_where_it_cannot_be_written(tmp_path, monkeypatch):
    """A copy of a running study's database and write-ahead log without the log's index (``-shm``; backups leave it
    out) in a folder that cannot be written: SQLite must create the index beside the log, so status stopped with
    "unable to open database file" (root, who can write anyway, made the index there). The two are now read from a
    copy in a temporary folder, the log's commits included, and the folder is left as it was."""
    study = {"name": "wal", "base": "ring8", "overrides": ["train.steps=10"], "grid": {"loss.name": ["hinge", "wgan"]}}
    write_plan(read_study(study), tmp_path / "s")
    copy = tmp_path / "copy"
    copy.mkdir()
    with Store(tmp_path / "s") as running:  # its commits stay in the log while it is open
        running.claim([0])
        running.finish(0, 1.0, 0.5)
        for name in ("study.db", "study.db-wal"):
            shutil.copyfile(tmp_path / "s" / name, copy / name)
    files = {p.name: p.read_bytes() for p in copy.iterdir()}
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == copy and
                        mode == os.W_OK else real_access(path, mode, **kw))  # as root, only a mount would refuse
    with Store(copy, create=False, read_only=True) as store:
        assert store.counts()["done"] == 1 and store.task(0)["train_seconds"] == 1.0
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == files


def test_a_name_too_long_for_the_temporary_file_is_refused_before_the_work(tmp_path):
    """A 250-character name is legal, but the temporary file beside it is 14 characters longer: the sample was
    drawn, then "File name too long"."""
    from ganscape.utils.io import check_writable

    with pytest.raises(ConfigError, match="cannot write there .*File name too long"):
        check_writable(tmp_path / ("a" * 246 + ".png"))
    check_writable(tmp_path / ("a" * 230 + ".png"))


def test_output_piped_into_head_stops_quietly_and_a_broken_database_is_one_line(tmp_path):
    """Storage errors are one line, but a closed pipe is no error: ``components --verbose | head -1`` became a
    BrokenPipeError traceback once storage errors were caught (BrokenPipeError is an OSError)."""
    piped = subprocess.run(f"'{sys.executable}' -m ganscape components --verbose | head -1; "
                           "echo \"status ${PIPESTATUS[0]}\"", shell=True, executable="/bin/bash",
                           capture_output=True, text=True, timeout=300)
    assert piped.stdout.splitlines()[-1] == "status 141" and piped.stderr == "", piped.stderr[-2000:]
    (tmp_path / "d" / "study.db").mkdir(parents=True)  # a folder where the database belongs
    planned = ganscape(tmp_path, "study", "plan", "landscape-toy", "--out", "d")
    assert planned.returncode == 1 and planned.stderr.strip() == (
        "ganscape: error: the study database in d: unable to open database file"), planned.stderr[-2000:]


def test_a_run_trains_and_data_is_prepared_with_stderr_closed(tmp_path):
    """``2>&-``: Python's stderr is then None; the progress display asked it whether it was a terminal, and the run
    or the preparation never started."""
    from PIL import Image

    done = ganscape(tmp_path, "train", "ring8", "train.steps=10", "train.sample_every=0", "--out", "r",
                    shell_suffix="2>&-")
    assert done.returncode == 0 and (tmp_path / "r" / "checkpoints" / "ckpt-00000010.pt").exists()
    (tmp_path / "pngs").mkdir()
    for i in range(4):
        Image.new("RGB", (20, 20), (60 * i, 0, 0)).save(tmp_path / "pngs" / f"{i}.png")
    prepared = ganscape(tmp_path, "data", "prepare", "folder", "--from", "pngs", "--name", "x", "--root", "root",
                        shell_suffix="2>&-")
    assert prepared.returncode == 0 and list((tmp_path / "root" / "x").glob("*px/manifest.json"))


def test_a_plan_holds_the_study_folder_while_it_writes_it(tmp_path, monkeypatch):
    """Two concurrent plans of different studies into one folder both said "planned", leaving one study's
    database beside the other's study.yaml and task files."""
    from ganscape.studies.store import Store as StoreClass
    from ganscape.utils.io import FolderBusy, folder_lock

    create, held = StoreClass.create, []

    def create_while_checking(self, *args):
        try:
            with folder_lock(tmp_path / "s"):
                held.append(False)
        except FolderBusy:
            held.append(True)
        return create(self, *args)
    monkeypatch.setattr(StoreClass, "create", create_while_checking)
    write_plan(read_study({"name": "one", "base": "ring8", "grid": {"loss.name": ["hinge"]}}), tmp_path / "s")
    assert held == [True]


def test_a_run_folder_laid_out_wrongly_or_not_utf_8_is_refused_before_anything_is_written(tmp_path, capsys):
    """A file named ``checkpoints`` (or a folder named ``metrics.jsonl``) was a traceback at the first checkpoint,
    after the work; a run folder path with bytes that are not UTF-8 stopped TensorBoard's writer half-way through the
    start, leaving config.yaml behind. ``data list --root FILE`` said "no prepared datasets"."""
    from ganscape.cli import main

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "checkpoints").write_text("not a folder")
    (tmp_path / "b" / "metrics.jsonl").mkdir(parents=True)
    latin = os.fsdecode(os.fsencode(tmp_path) + b"/lat\xe9n")
    for out, message in ((tmp_path / "a", "checkpoints is a file where the run keeps its checkpoints folder"),
                         (tmp_path / "b", "metrics.jsonl is a folder where the run writes its metrics.jsonl"),
                         (Path(latin) / "r", "holds bytes that are not UTF-8 text")):
        before = sorted(p.name for p in out.parent.rglob("*")) if out.parent.exists() else None
        assert main(["train", "ring8", "train.steps=5", "--out", str(out)]) == 2
        assert message in capsys.readouterr().err
        assert (sorted(p.name for p in out.parent.rglob("*")) if out.parent.exists() else None) == before
    assert main(["data", "list", "--root", str(tmp_path / "a" / "checkpoints")]) == 2
    assert "--root: " in capsys.readouterr().err


def test_a_folder_of_other_files_or_a_linked_run_folder_is_refused_before_anything_is_written(tmp_path, capsys):
    """Training into a folder of other files rewrote its metrics.jsonl and results.jsonl, replaced loss_curves.png
    and deleted its hidden .tmp files; a run whose samples or checkpoints folder was a link wrote there on resume,
    and deleted old checkpoints and temporary files wherever it pointed."""
    from ganscape.cli import main

    other = tmp_path / "other"
    other.mkdir()
    (other / "metrics.jsonl").write_text("precious\n")
    (other / ".draft.tmp").write_text("mine")
    assert main(["train", "ring8", "train.steps=5", "--out", str(other)]) == 2
    err = capsys.readouterr().err
    assert "holds other files (.draft.tmp, metrics.jsonl) and no run (no config.yaml, no checkpoint)" in err
    assert sorted(p.name for p in other.iterdir()) == [".draft.tmp", "metrics.jsonl"]
    assert (other / "metrics.jsonl").read_text() == "precious\n"
    run = tmp_path / "run"
    assert main(["train", "ring8", "train.steps=4", "train.checkpoint_every=2", "--out", str(run)]) == 0
    capsys.readouterr()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / ".important.tmp").write_text("mine")
    shutil.rmtree(run / "samples")
    (run / "samples").symlink_to(outside)
    assert main(["train", "ring8", "train.steps=8", "train.checkpoint_every=2", "--out", str(run)]) == 2
    assert f"{run / 'samples'} is a link" in capsys.readouterr().err
    assert [p.name for p in outside.iterdir()] == [".important.tmp"]
    (run / "samples").unlink()  # a run's own empty folders and its lock are no other files
    (run / "config.yaml").rename(tmp_path / "config.yaml")
    shutil.rmtree(run / "checkpoints")
    for name in ("metrics.jsonl", "results.jsonl", "loss_curves.png", "environment.jsonl"):
        (run / name).unlink(missing_ok=True)
    for name in ("samples", "checkpoints"):
        (run / name).mkdir(exist_ok=True)
    shutil.rmtree(run / "tb")
    (run / ".config.yaml.x1y2.tmp").write_text("half a config")  # a kill while config.yaml was written
    assert main(["train", "ring8", "train.steps=2", "--out", str(run)]) == 0


def test_an_atomic_write_syncs_the_file_then_its_folder(tmp_path, monkeypatch):
    """The rename itself was not synced: after a power loss a new checkpoint's name could be missing while its
    older siblings, deleted right after it was saved, were gone too."""
    from ganscape.utils import io as gio

    synced = []
    fsync = os.fsync
    monkeypatch.setattr(gio.os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or fsync(fd))
    gio.atomic_write_text(tmp_path / "sub" / "a.txt", "new")
    assert (tmp_path / "sub" / "a.txt").read_text() == "new"
    assert len(synced) == 2 and synced[0].startswith(str(tmp_path / "sub" / ".a.txt.")) \
        and synced[1] == str(tmp_path / "sub")


def test_a_record_appended_during_a_rewrite_of_results_jsonl_is_not_lost(tmp_path, monkeypatch):
    """``ganscape eval`` replacing a re-evaluated checkpoint's records rewrote results.jsonl (read, then an atomic
    replace) while a training run's evaluation could append to it: an append between the read and the replace went
    to the old file and was lost. Every writer now holds the file's lock."""
    import threading

    import ganscape.results as results
    from ganscape.results import Record, ResultsWriter, read_results
    from ganscape.utils.io import append_jsonl

    path = tmp_path / "results.jsonl"
    writer = ResultsWriter(path, one_run=True)
    def record(metric: str, value: float) -> Record:
        return Record("run", 10, "ckpt-00000010.pt", metric, value, None, 100, "toy", 0.0)
    writer.write([record("modes", 7.0)])
    read, appenders = results.read_jsonl, []

    def read_then_another_process_appends(file):
        rows = read(file)
        appenders.append(threading.Thread(target=lambda: append_jsonl(path, record("reverse_kl", 0.5).to_json())))
        appenders[0].start()
        appenders[0].join(0.3)  # it appends now, unless it waits for the lock
        return rows
    monkeypatch.setattr(results, "read_jsonl", read_then_another_process_appends)
    writer.write([record("modes", 8.0)], replace_existing=True)
    appenders[0].join(10)
    monkeypatch.undo()
    assert sorted((r.metric, r.value) for r in read_results(path)) == [("modes", 8.0), ("reverse_kl", 0.5)]


def test_an_append_that_waited_on_a_replaced_file_writes_to_the_new_one(tmp_path):
    import threading

    from ganscape.utils.io import append_jsonl, atomic_write_text, jsonl_lock, read_jsonl

    path = tmp_path / "metrics.jsonl"
    append_jsonl(path, {"step": 1})
    appender = threading.Thread(target=lambda: append_jsonl(path, {"step": 3}))
    with jsonl_lock(path):
        appender.start()
        appender.join(0.3)
        assert appender.is_alive()
        atomic_write_text(path, '{"step": 2}\n')  # a rewrite: the lock held is the old file's
    appender.join(10)
    assert read_jsonl(path) == [{"step": 2}, {"step": 3}]
