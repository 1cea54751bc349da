"""The study runner under faults: workers killed at random, a database that is transiently locked, tasks that
crash, a second runner on the same study. Every task must end done exactly once, no task may ever run in two
workers at the same time (checked from the task log, not only the final state), and one `study run` finishes
the study."""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from ganscape.studies import Store, read_study, write_plan
from ganscape.studies.backends.local import reap
from ganscape.studies.store import DEATH_ATTEMPTS, MAX_ATTEMPTS
from ganscape.studies.worker import LeaseLost, lease

FAULT_DIR = Path(__file__).parent / "fault"
TINY = ["generator.hidden=4", "discriminator.hidden=4", "generator.layers=1", "discriminator.layers=1",
        "train.steps=1"]


def plan(tmp_path: Path, tasks: int) -> Path:
    study = {"name": "faults", "base": "ring8", "overrides": TINY, "seeds": list(range(tasks))}
    out = tmp_path / "study"
    write_plan(read_study(study), out)
    return out


def start_runner(study: Path, workers: int, **env: str) -> subprocess.Popen:
    """``study run --all`` with the tiny executor; its (and its workers') messages go to STUDY_DIR/runner-PID.log."""
    environment = {**os.environ, "PYTHONPATH": f"{FAULT_DIR}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **env}
    log = open(study / f"runner-{time.time_ns()}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "ganscape", "study", "run", str(study), "--all", "--workers",
                             str(workers), "--executor", "fault_tasks:tiny"], env=environment,
                            stdout=subprocess.DEVNULL, stderr=log)


def messages(study: Path) -> str:
    return "".join(p.read_text()[-2000:] for p in study.glob("runner-*.log"))


def task_log(study: Path) -> dict[int, list[tuple[str, int, float]]]:
    events = defaultdict(list)
    for line in (study / "task.log").read_text().splitlines():
        event, task_id, pid, when = line.split()
        events[int(task_id)].append((event, int(pid), float(when)))
    return events


def assert_never_concurrent(events: list[tuple[str, int, float]], killed: dict[int, float]) -> None:
    """Each start comes after the previous execution of the task ended: logged its end, raised, or was killed."""
    open_runs: dict[int, float] = {}
    for event, pid, when in events:
        if event == "start":
            for other, started in open_runs.items():
                assert killed.get(other, float("inf")) <= when, f"started in {pid} while {other} was running it"
            open_runs = {pid: when}
        else:
            open_runs.pop(pid, None)


def test_a_thousand_tasks_survive_killed_workers_and_a_flaky_database(tmp_path):
    study = plan(tmp_path, 1000)
    runner = start_runner(study, 3, FAULT_LOCKED_P="0.05", FAULT_ALWAYS_FAILS="7", FAULT_FAILS_ONCE="8,9")
    rng, killed = random.Random(0), {}
    while len(killed) < 8 and runner.poll() is None:
        time.sleep(0.15)
        with Store(study) as store:
            running = [t["pid"] for t in store.tasks() if t["status"] == "running" and t["pid"]]
        if running:
            pid = rng.choice(running)
            try:
                os.kill(pid, signal.SIGKILL)
                killed[pid] = time.time()
            except ProcessLookupError:
                pass
    code = runner.wait(timeout=240)
    assert len(killed) == 8, "the study finished before 8 workers could be killed"
    assert code == 1, messages(study)  # 1: task 7 failed for good
    with Store(study) as store:
        tasks = {t["id"]: t for t in store.tasks()}
        results = store.results()
    assert [i for i, t in tasks.items() if t["status"] != "done"] == [7]
    assert tasks[7]["status"] == "failed" and "boom in task 7" in tasks[7]["error"]
    # tasks 8 and 9 crash once; a random kill may also hit them, which does not count against their crash budget.
    # Task 7 raises on every attempt and fails for good once it has had MAX_ATTEMPTS. An attempt whose worker was
    # killed (even after the task raised, before the worker recorded it) is a death, retried up to DEATH_ATTEMPTS.
    log = task_log(study)
    crashes_of_7 = sum(e[0] == "fail" for e in log[7])
    assert 1 <= crashes_of_7 <= tasks[7]["attempts"] and MAX_ATTEMPTS <= tasks[7]["attempts"] <= DEATH_ATTEMPTS
    assert 2 <= tasks[8]["attempts"] <= DEATH_ATTEMPTS
    assert 2 <= tasks[9]["attempts"] <= DEATH_ATTEMPTS
    for task_id in range(1000):
        ends = [e for e in log[task_id] if e[0] == "end"]
        assert len(ends) == (0 if task_id == 7 else 1), (task_id, log[task_id])
        assert_never_concurrent(log[task_id], killed)
    assert len(results) == 999 and sorted(t for t, _ in results) == [i for i in range(1000) if i != 7]
    with sqlite3.connect(study / "study.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


class ExitedWorker:
    """Stands in for a worker's ``subprocess.Popen`` once it has exited with ``code``."""

    def __init__(self, pid: int, code: int):
        self.pid, self.code = pid, code

    def poll(self) -> int:
        return self.code


def test_only_a_worker_that_never_took_a_task_counts_as_a_startup_failure(tmp_path):
    """A worker killed between two tasks used to count as 'died before taking a task'; three such kills in a row
    stopped the whole study (seen in CI under random kills)."""
    study = plan(tmp_path, 3)
    with Store(study) as store:
        finished = store.claim(pid=101)
        store.finish(finished["id"], 0.0, 0.0, pid=101)
        store.claim(pid=102)
        procs = {0: ExitedWorker(101, -9), 1: ExitedWorker(102, -9), 2: ExitedWorker(103, 1), 3: ExitedWorker(104, 0)}
        assert reap(store, procs) == (1, 1)  # 102 held a task, 103 never took one; 101 was between tasks
        assert procs == {}
        assert [t["status"] for t in store.tasks()] == ["done", "pending", "pending"]


def test_a_worker_stopped_after_taking_a_task_is_no_startup_failure(tmp_path):
    """Three workers stopped with SIGTERM while each ran task 0 stopped the whole study ("3 workers in a row died
    before taking a task"): the stopped worker releases its task, which clears its pid, as does a requeue of a
    dead worker's task by another runner before this one reaps it."""
    study = plan(tmp_path, 2)
    with Store(study) as store:
        store.claim(pid=201)
        store.release(0, "interrupted: the worker was stopped; re-run to resume", 201)
        assert reap(store, {0: ExitedWorker(201, 130)}) == (0, 0)  # stopped: its exit code says so
        store.claim(pid=202)
        store.release(0, "interrupted: the worker was stopped; re-run to resume", 202)  # requeued, pid cleared
        assert reap(store, {0: ExitedWorker(202, -9)}) == (0, 1)  # not seen holding the task: counted
        assert reap(store, {0: ExitedWorker(202, -9)}, seen={202}) == (0, 0)  # seen by the runner: not counted
        store.claim(pid=4242, host="another-host")  # a worker of another host with the pid of ours that dies
        assert reap(store, {0: ExitedWorker(4242, 1)}) == (0, 1)
        assert (store.task(0)["status"], store.task(0)["pid"]) == ("running", 4242)  # that host's task is kept


def test_a_second_runner_joins_as_extra_workers(tmp_path):
    study = plan(tmp_path, 40)
    first = start_runner(study, 1, FAULT_SLEEP_S="0.15")
    time.sleep(1.5)
    second = start_runner(study, 2, FAULT_SLEEP_S="0.15")
    assert second.wait(timeout=120) == 0, messages(study)
    assert first.wait(timeout=120) == 0, messages(study)
    with Store(study) as store:
        assert {t["status"] for t in store.tasks()} == {"done"}
    log = task_log(study)
    assert all(sum(e[0] == "end" for e in log[i]) == 1 for i in range(40))
    assert len({pid for events in log.values() for _, pid, _ in events}) == 3  # 1 + 2 workers shared the work


def test_heartbeat_survives_a_locked_database_and_reports_a_lost_lease(tmp_path, monkeypatch):
    study = plan(tmp_path, 2)
    monkeypatch.setattr("ganscape.studies.worker.HEARTBEAT_S", 0.05)
    with Store(study) as store:
        task = store.claim([0])
    calls = []

    def heartbeat(self, task_id, pid):
        calls.append(task_id)
        if len(calls) <= 2:
            raise sqlite3.OperationalError("database is locked")
        return len(calls) < 5  # the task is then given to another worker
    monkeypatch.setattr("ganscape.studies.store.Store.heartbeat", heartbeat)
    with lease(study, task["id"]) as check:
        deadline = time.time() + 10
        while len(calls) < 5 and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        with pytest.raises(LeaseLost):
            check()
    assert len(calls) == 5  # it kept beating through the errors, and stopped once the lease was lost


def test_a_task_that_kills_its_worker_every_time_ends_failed_and_the_rest_finish(tmp_path):
    study = plan(tmp_path, 6)
    runner = start_runner(study, 2, FAULT_KILLS_WORKER="2")
    assert runner.wait(timeout=120) == 1, messages(study)
    with Store(study) as store:
        tasks = {t["id"]: t for t in store.tasks()}
    assert [i for i, t in tasks.items() if t["status"] != "done"] == [2]
    assert tasks[2]["attempts"] == DEATH_ATTEMPTS and "died" in tasks[2]["error"]


def test_a_task_whose_dead_worker_s_pid_was_reused_is_requeued_once_its_heartbeat_is_stale(tmp_path):
    """After a restart (same host name, pids counted again) a dead worker's pid may be another program's: pid 1 is
    alive, but the task's heartbeat stopped two minutes ago, so it is requeued; one with a fresh heartbeat is not."""
    import socket

    from ganscape.studies.store import STALE_AFTER_S

    study = plan(tmp_path, 2)
    with Store(study) as store:
        store.claim([0])
        store.claim([1])
        stale = time.time() - STALE_AFTER_S - 1
        store.write(lambda db: db.executemany("UPDATE tasks SET host = ?, pid = 1, heartbeat = ? WHERE id = ?",
                                              [(socket.gethostname(), stale, 0),
                                               (socket.gethostname(), time.time(), 1)]))
        assert store.requeue(retry_failed=False) == {"interrupted": 1, "failed": 0}
        assert [t["status"] for t in store.tasks()] == ["pending", "running"]


def test_a_jump_of_the_wall_clock_orphans_no_task_the_runner_has_watched(tmp_path):
    """The runner judges a heartbeat it has seen before by how long it has stayed unchanged on its monotonic clock: a
    wall clock set forward an hour (NTP step, resume from suspend) orphans nothing, which the wall clock alone would
    (task 0); a heartbeat an hour ahead (its host's clock runs ahead) still goes stale once its worker is silent."""
    from ganscape.studies.store import STALE_AFTER_S, LeaseWatch

    study = plan(tmp_path, 2)
    wall, monotonic = [time.time()], [0.0]
    watch = LeaseWatch(wall=lambda: wall[0], monotonic=lambda: monotonic[0])
    nothing = {"interrupted": 0, "failed": 0}
    with Store(study) as store:
        store.claim([0])
        store.claim([1])  # this process: a live pid on this host, so only the heartbeat can orphan them
        store.write(lambda db: db.executemany("UPDATE tasks SET heartbeat = ? WHERE id = ?",
                                              [(wall[0], 0), (wall[0] + 3600, 1)]))
        assert store.requeue(retry_failed=False, watch=watch) == nothing
        wall[0] += 3600
        monotonic[0] += 5
        assert store.orphans(store.conn, None, LeaseWatch(wall=lambda: wall[0])) == [0]  # the wall clock alone
        assert store.requeue(retry_failed=False, watch=watch) == nothing
        monotonic[0] += STALE_AFTER_S - 10
        store.write(lambda db: db.execute("UPDATE tasks SET heartbeat = ? WHERE id = 0", (wall[0],)))  # task 0 beats
        assert store.requeue(retry_failed=False, watch=watch) == nothing
        monotonic[0] += 20  # task 1 silent for STALE_AFTER_S + 15 s, task 0 for 20 s
        assert store.requeue(retry_failed=False, watch=watch) == {"interrupted": 1, "failed": 0}
        assert [t["status"] for t in store.tasks()] == ["running", "pending"]
        monotonic[0] += STALE_AFTER_S
        assert store.requeue(retry_failed=False, watch=watch) == {"interrupted": 1, "failed": 0}


def test_an_interrupted_task_goes_back_to_pending_without_using_an_attempt(tmp_path):
    from ganscape.studies.worker import run_claimed

    study = plan(tmp_path, 1)

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C, or SIGTERM from a scheduler (the worker turns it into this)
    with Store(study) as store:
        task = store.claim([0])
        with pytest.raises(KeyboardInterrupt):
            run_claimed(store, task, {}, stopped)
        row = store.task(0)
    assert (row["status"], row["attempts"], row["pid"]) == ("pending", 0, None)
    assert row["error"].startswith("interrupted")


def test_a_checkpoint_evaluated_again_after_a_kill_is_not_doubled_in_results_jsonl(tmp_path):
    """A worker killed after writing a checkpoint's results to the run's results.jsonl, before the study stored
    them: the next worker evaluates that checkpoint again and replaces, not appends, its rows."""
    from collections import Counter

    from ganscape.results import read_results
    from ganscape.studies.execute import execute_task, run_dir_for

    study = plan(tmp_path, 1)
    with Store(study) as store:
        config = store.task(0)["config"]
    config["train"].update(steps=4, checkpoint_every=2)
    eval_spec = {"metrics": ["modes"], "n": 200}

    def killed(step, records):
        raise KeyboardInterrupt  # the worker dies here: results.jsonl has the rows, the database has not
    with pytest.raises(KeyboardInterrupt):
        execute_task(study, 0, config, eval_spec, on_results=killed)
    execute_task(study, 0, config, eval_spec)
    rows = Counter((r.checkpoint, r.metric) for r in read_results(run_dir_for(study, 0) / "results.jsonl"))
    assert {checkpoint for checkpoint, _ in rows} == {"ckpt-00000002.pt", "ckpt-00000004.pt"}
    assert set(rows.values()) == {1}


def test_a_run_folder_held_by_a_worker_the_study_gave_up_on_is_waited_for(tmp_path, monkeypatch, caplog):
    """A paused worker (its heartbeat stale, its task given to another) still holds the run folder's lock. The new
    worker waits for it to stop instead of failing: FolderBusy spent all the task's attempts in 0.3 s, and the
    task ended failed though nothing was wrong with it."""
    import threading

    from ganscape.studies import execute
    from ganscape.utils.io import folder_lock

    monkeypatch.setattr(execute, "BUSY_POLL_S", 0.05)
    study = plan(tmp_path, 1)
    with Store(study) as store:
        config = store.task(0)["config"]
    run_dir = execute.run_dir_for(study, 0)
    held, release = threading.Event(), threading.Event()

    def paused_worker():
        with folder_lock(run_dir):  # flock: a second open of the file conflicts, in this process too
            held.set()
            release.wait(10)
    holder = threading.Thread(target=paused_worker)
    holder.start()
    held.wait(10)
    looks = []

    def check():
        looks.append(time.monotonic())
        if len(looks) == 5:
            release.set()  # the paused worker sees it lost the task and stops
    result = execute.execute_task(study, 0, config, {"metrics": ["modes"], "n": 200}, check=check)
    holder.join()
    assert len(looks) >= 5 and sorted(result.results) == [1]
    assert "another process holds this run folder" in caplog.text

    def taken():
        raise LeaseLost("task 0 was given to another worker")
    with folder_lock(run_dir), pytest.raises(LeaseLost):  # given away meanwhile: this worker stops waiting
        execute.execute_task(study, 0, config, {"metrics": ["modes"], "n": 200}, check=taken)


def test_a_heartbeat_first_seen_old_goes_stale_when_its_age_reaches_the_limit(tmp_path):
    """The first look starts the watch's clock at the heartbeat's wall-clock age: a worker dead for 110 s when the
    runner first sees its task was orphaned 120 s later, 230 s after its last beat."""
    from ganscape.studies.store import STALE_AFTER_S, LeaseWatch

    wall, monotonic = [time.time()], [0.0]
    watch = LeaseWatch(wall=lambda: wall[0], monotonic=lambda: monotonic[0])
    beat = wall[0] - (STALE_AFTER_S - 10)
    assert not watch.stale(0, beat)
    monotonic[0] += 11
    assert watch.stale(0, beat)


def test_a_busy_error_of_another_folder_is_raised_not_waited_on(tmp_path):
    """Only the run folder's own lock is waited for: another folder's (a dataset another process prepares) ended in
    a loop that evaluated again and again without a pause."""
    from ganscape.studies.execute import when_free
    from ganscape.utils.io import FolderBusy

    calls = []

    def work():
        calls.append(1)
        raise FolderBusy(f"{tmp_path / 'data'}: another process is preparing this dataset right now")
    with pytest.raises(FolderBusy, match="preparing this dataset"):
        when_free(tmp_path / "run", None, work)
    assert calls == [1]


def test_the_run_folder_busy_is_told_by_its_folder_not_its_message(tmp_path, monkeypatch):
    """``when_free`` waits for the run folder's own lock, found by the folder FolderBusy names (the same folder
    given relative or absolute), not by the start of its message: a relative run folder's refusal, its message
    starting with the absolute path, was raised instead of waited for."""
    from ganscape.studies import execute
    from ganscape.utils.io import FolderBusy

    monkeypatch.chdir(tmp_path)
    waits, calls = [], []
    monkeypatch.setattr(execute, "wait_until_free", lambda run_dir, check: waits.append(run_dir))

    def work():
        calls.append(1)
        if len(calls) == 1:
            raise FolderBusy(f"{tmp_path / 'run'}: another process is using this run folder right now",
                             tmp_path / "run")
        return "done"
    assert execute.when_free(Path("run"), None, work) == "done"
    assert calls == [1, 1] and len(waits) == 2


def test_evaluation_waits_for_a_worker_still_evaluating_the_same_run(tmp_path, monkeypatch):
    """Evaluating rewrites results.jsonl (a checkpoint's rows replace its old ones). A worker the study gave the task
    up on, still evaluating, and the worker that took the task over evaluated the run together, without the run
    folder's lock, so one's rewrite could drop the other's rows. Now the second waits for the first."""
    import threading

    import ganscape.training
    from ganscape.studies import execute
    from ganscape.utils.io import folder_lock

    monkeypatch.setattr(execute, "BUSY_POLL_S", 0.05)
    study = plan(tmp_path, 1)
    with Store(study) as store:
        config = store.task(0)["config"]
    eval_spec = {"metrics": ["modes"], "n": 200}
    execute.execute_task(study, 0, config, eval_spec)
    held, release = threading.Event(), threading.Event()

    def evaluating_worker():
        with folder_lock(execute.run_dir_for(study, 0)):
            held.set()
            release.wait(10)
    holder = threading.Thread(target=evaluating_worker)

    def trained(*args, **kwargs):  # nothing left to train; meanwhile the other worker goes on evaluating
        holder.start()
        held.wait(10)
    monkeypatch.setattr(ganscape.training, "train", trained)
    events = []

    def check():
        events.append("look")
        if events.count("look") == 3:
            events.append("released")
            release.set()
    result = execute.execute_task(study, 0, config, eval_spec, check=check,
                                  on_results=lambda step, records: events.append("scored"))
    holder.join()
    assert "released" in events and events.index("released") < events.index("scored")
    assert sorted(result.results) == [1]


def test_a_task_resumed_after_a_kill_reports_the_training_time_of_every_attempt(tmp_path):
    """train_seconds counted only the finishing attempt: a worker killed during evaluation left the next one a
    trained run, and the task's training time read as the fraction of a second the resume took."""
    from ganscape.studies.execute import execute_task

    study = plan(tmp_path, 1)
    with Store(study) as store:
        config = store.task(0)["config"]
    config["train"].update(steps=4, checkpoint_every=2)
    eval_spec = {"metrics": ["modes"], "n": 200}

    def slow_step():
        time.sleep(0.3)

    def killed(step, records):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        execute_task(study, 0, config, eval_spec, on_results=killed, check=slow_step)
    result = execute_task(study, 0, config, eval_spec)
    assert result.train_seconds >= 4 * 0.3


def test_a_database_locked_past_the_retries_does_not_stop_the_runner(tmp_path, monkeypatch, caplog):
    """A process that held the study database longer than Store.write's 60 s of retries made the runner's requeue
    raise, and the runner then terminated every worker and stopped the study."""
    from ganscape.studies.backends import local

    study = plan(tmp_path, 3)
    monkeypatch.setenv("PYTHONPATH", f"{FAULT_DIR}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setattr(local, "REQUEUE_EVERY_S", 0.0)
    calls = []
    requeue = Store.requeue

    def locked_twice(self, *args, **kwargs):
        calls.append(1)
        if len(calls) <= 2:
            raise sqlite3.OperationalError("database is locked")
        return requeue(self, *args, **kwargs)

    monkeypatch.setattr(Store, "requeue", locked_twice)
    local.run_local(study, None, workers=2, executor="fault_tasks:tiny")
    with Store(study) as store:
        assert {t["status"] for t in store.tasks()} == {"done"}
    assert len(calls) > 2 and "is locked by another process; waiting" in caplog.text


def test_an_unreadable_earlier_checkpoint_is_left_out_not_a_failed_task(tmp_path, caplog):
    """A corrupt intermediate checkpoint raised a CheckpointError, a ConfigError, which fails a task for good: every
    retry met the same file and the later checkpoints were never scored."""
    from ganscape.studies.execute import execute_task, run_dir_for

    study = plan(tmp_path, 1)
    with Store(study) as store:
        config = store.task(0)["config"]
    config["train"].update(steps=6, checkpoint_every=2)
    eval_spec = {"metrics": ["modes"], "n": 200}
    execute_task(study, 0, config, eval_spec)
    first = run_dir_for(study, 0) / "checkpoints" / "ckpt-00000002.pt"
    first.write_bytes(first.read_bytes()[:1000])  # cut short
    result = execute_task(study, 0, config, eval_spec)
    assert sorted(result.results) == [4, 6] and result.note == "checkpoint 2 unreadable, not scored"
    assert "ckpt-00000002.pt" in caplog.text
