"""The Ray backend: a small study on a local Ray instance started by `ganscape study run`."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ganscape.config import dump_yaml
from ganscape.studies import Store
from ganscape.metrics import metric_family

FAULT_DIR = Path(__file__).parent / "fault"
TINY = ["train.steps=20", "train.batch_size=64", "train.log_every=10", "train.checkpoint_every=10",
        "train.sample_every=0", "generator.hidden=16", "discriminator.hidden=16",
        "generator.layers=2", "discriminator.layers=2"]


def test_ray_backend_runs_a_4_task_study_and_records_a_crash(tmp_path):
    pytest.importorskip("ray", reason="the `ray` extra is not installed (pip install 'ganscape[ray]')")
    study = {"name": "ray-test", "base": "ring8", "overrides": TINY,
             # the 'broken' dataset cannot be built by an MLP: that task must fail, the others finish
             "grid": {"dataset": {"ring": {}, "broken": {"data": {"name": "digits", "size": 8}}},
                      "loss.name": ["nonsaturating", "hinge"]},
             "eval": {"n": 400}, "resources": {"cpus": 1, "gpus": 0}}
    path = tmp_path / "study.yaml"
    path.write_text(dump_yaml(study))
    out = tmp_path / "study"
    # task 0 crashes once (tests/fault/sitecustomize.py): Ray tasks are retried like local ones (they were not)
    env = {**os.environ, "PYTHONPATH": f"{FAULT_DIR}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "FAULT_EXECUTE_FAILS_ONCE": "0"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "ganscape", "study", *a], capture_output=True,
                                    text=True, timeout=550, env=env)
    assert run("plan", str(path), "--out", str(out)).returncode == 0
    result = run("run", str(out), "--all", "--backend", "ray", "--num-cpus", "2")
    assert result.returncode == 1, result.stdout + result.stderr  # 1: some tasks failed
    with Store(out) as store:
        tasks = store.tasks()
        assert len(tasks) == 4
        assert [t["attempts"] for t in tasks] == [2, 1, 1, 1]  # the crash retried; a bad config fails at once
        for task in tasks[:2]:
            assert task["status"] == "done"
            records = [r for _, r in store.results(task["id"])]
            assert sorted({r.step for r in records}) == [10, 20]
            assert {metric_family(r.metric) for r in records} >= {"modes", "reverse_kl"}
        for task in tasks[2:]:
            assert task["status"] == "failed"
            assert "Traceback" in task["error"] and "is for vector data" in task["error"]
    assert (out / "runs" / "task-0001" / "checkpoints" / "ckpt-00000020.pt").exists()


def test_a_ray_task_that_never_started_is_not_submitted_again(tmp_path):
    """Retries count attempts from the claim a started task makes: a task Ray could not start (a node without
    ganscape, a broken runtime environment) was resubmitted forever."""
    from ganscape.studies import read_study, write_plan
    from ganscape.studies.backends.ray import OVER, RETRY, _advance

    class NoStart:
        @staticmethod
        def get(_):
            raise RuntimeError("RuntimeEnvSetupError: cannot start")

    write_plan(read_study({"name": "r", "base": "ring8", "overrides": TINY}), tmp_path / "s")
    owner = {"host": "here", "pid": os.getpid()}
    with Store(tmp_path / "s") as store:
        task = store.task(0)
        assert _advance(NoStart, store, iter([None]), task, set(), owner) == OVER
        assert store.task(0)["status"] == "failed"
        store.requeue([0], retry_failed=True)
        store.claim([0], **owner)  # once started, a dying worker is retried
        assert _advance(NoStart, store, iter([None]), task, {0}, owner) == RETRY
        assert store.task(0)["status"] == "pending"
        # one this driver never started, which another runner claimed meanwhile, is that runner's: it was marked failed
        store.claim([0], host="other", pid=111)
        assert _advance(NoStart, store, iter([None]), task, set(), owner) == OVER
        assert (store.task(0)["status"], store.task(0)["pid"]) == ("running", 111)


def test_a_ray_task_hands_over_each_checkpoint_s_results_as_it_is_evaluated(tmp_path):
    """The remote function returned every result at its end: a worker killed while evaluating the last checkpoint
    lost them all, and the retry evaluated every checkpoint again. Now each checkpoint's records reach the driver,
    which stores them at once, and a retry is given those steps as done."""
    from ganscape.results import Record
    from ganscape.studies import read_study, write_plan
    from ganscape.studies.backends.ray import RUNNING, _advance, remote_task

    write_plan(read_study({"name": "r", "base": "ring8", "overrides": TINY}), tmp_path / "s")
    with Store(tmp_path / "s") as store:
        task = store.task(0)
    eval_spec = {"metrics": ["modes"], "n": 200}
    values = list(remote_task(str(tmp_path / "s"), 0, task["config"], eval_spec, [], 1))
    assert [sorted({Record.from_json(r).step for r in v["results"]}) for v in values[:-1]] == [[10], [20]]
    assert "error" not in values[-1] and values[-1]["train_seconds"] > 0
    again = list(remote_task(str(tmp_path / "s"), 0, task["config"], eval_spec, [10], 1))
    assert [{Record.from_json(r).step for r in v["results"]} for v in again[:-1]] == [{20}]

    class Immediate:
        @staticmethod
        def get(value):
            return value
    owner = {"host": "here", "pid": os.getpid()}
    with Store(tmp_path / "s") as store:
        store.claim([0], **owner)
        assert _advance(Immediate, store, iter(values[:1]), task, {0}, owner) == RUNNING
        assert store.evaluated_steps(0) == {10} and store.task(0)["status"] == "running"


def test_a_ray_task_another_runner_took_over_records_nothing_and_is_cancelled(tmp_path):
    """The driver stored a Ray task's results, outcome and failure whoever held the task: once another runner had
    requeued and taken it, the Ray copy still wrote its results and marked it done."""
    from ganscape.results import Record
    from ganscape.studies import read_study, write_plan
    from ganscape.studies.backends import ray as backend

    study = tmp_path / "s"
    write_plan(read_study({"name": "r", "base": "ring8", "seeds": [0]}), study)
    cancelled = []

    class FakeRay:
        get = staticmethod(lambda value: value)
        cancel = staticmethod(lambda gen, force: cancelled.append(gen))

    row = Record("runs/task-0000", 2, "ckpt-00000002.pt", "modes", 8.0, None, 2500, "toy", 0.0).to_json()
    with Store(study) as store:
        store.claim([0], host="other", pid=111)  # the other runner holds task 0
        task, driver = store.task(0), {"host": "here", "pid": 222}
        gen = iter([{"results": [row]}])
        assert backend._advance(FakeRay, store, gen, task, {0}, driver) == backend.OVER and cancelled == [gen]
        assert backend._record(store, task, {"train_seconds": 1.0, "eval_seconds": 1.0, "note": None}, 222) == \
            backend.OVER
        assert backend._failed(store, 0, "boom", True, 3, 222) == backend.OVER
        assert store.task(0)["status"] == "running" and store.task(0)["pid"] == 111
        assert list(store.results()) == []
        assert backend._record(store, task, {"train_seconds": 1.0, "eval_seconds": 1.0, "note": None}, 111) == \
            backend.OVER
        assert store.task(0)["status"] == "done"


def test_ctrl_c_puts_the_tasks_ray_started_back_to_pending(tmp_path):
    """Ctrl-C under ``--backend ray`` left a started task running with its attempt counted (a local worker puts its
    task back to pending, the attempt not counted, as docs/studies.md says), and its Ray task was not cancelled."""
    from ganscape.studies import read_study, write_plan
    from ganscape.studies.backends import ray as backend

    write_plan(read_study({"name": "r", "base": "ring8", "overrides": TINY, "seeds": [0, 1]}), tmp_path / "s")
    cancelled, waits = [], []

    class FakeRay:
        @staticmethod
        def remote(fn):
            class Submit:
                def options(self, **kw):
                    return self

                def remote(self, study_dir, task_id, *rest):
                    return iter([backend.STARTED]) if task_id == 0 else iter([])  # task 1 waits in Ray's queue
            return Submit()

        get = staticmethod(lambda value: value)
        cancel = staticmethod(lambda gen, force: cancelled.append(gen))
        cluster_resources = staticmethod(lambda: {"CPU": 2})

        @staticmethod
        def wait(gens, num_returns, timeout):
            waits.append(1)
            if len(waits) > 1:
                raise KeyboardInterrupt
            return gens[:1], gens[1:]

    with pytest.raises(KeyboardInterrupt):
        backend._drive(FakeRay, tmp_path / "s", None)
    with Store(tmp_path / "s") as store:
        assert [(t["status"], t["attempts"], t["pid"]) for t in store.tasks()] == [("pending", 0, None)] * 2
        assert store.task(0)["error"] == "interrupted: the study run was stopped; re-run to resume"
    assert len(cancelled) == 2


def test_resources_no_node_of_the_ray_cluster_has_are_said(tmp_path, caplog):
    """``resources: {gpus: 1}`` on a CPU machine kept both tasks pending for ever, with only Ray's autoscaler
    messages. A cluster may grow, so it is a warning, before any task is submitted."""
    import logging

    from ganscape.studies import read_study, write_plan
    from ganscape.studies.backends import ray as backend

    write_plan(read_study({"name": "r", "base": "ring8", "overrides": TINY, "resources": {"gpus": 1}}), tmp_path / "s")

    class Stop(Exception):
        pass

    class FakeRay:
        cluster_resources = staticmethod(lambda: {"CPU": 2.0})

        @staticmethod
        def remote(fn):
            class Submit:
                def options(self, **kw):
                    raise Stop  # the first submission: the warning came before it
            return Submit()

    with caplog.at_level(logging.WARNING), pytest.raises(Stop):
        backend._drive(FakeRay, tmp_path / "s", None)
    assert ("warning: resources.gpus: each task asks for 1 GPU(s), and this Ray cluster has 0 now: the tasks wait "
            "until nodes that have them join, or for ever") in caplog.text
