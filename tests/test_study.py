"""Studies: deterministic planning, running every task into SQLite, crash and kill robustness."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganscape.cli import main
from ganscape.config import config_diff, dump_yaml, load_config
from ganscape.registry import ConfigError
from ganscape.studies import Store, plan_tasks, read_study, write_plan
from ganscape.metrics import metric_family
from ganscape.studies.spec import builtin_names

TINY = ["train.batch_size=64", "train.log_every=20", "train.checkpoint_every=20", "train.sample_every=0",
        "generator.hidden=16", "discriminator.hidden=16", "generator.layers=2", "discriminator.layers=2"]


def tiny_study(steps: int = 40, **extra) -> dict:
    study = {"name": "tiny", "description": "tiny test study", "base": "ring8",
             "overrides": TINY + [f"train.steps={steps}"],
             "grid": {"loss.name": ["nonsaturating", "hinge"]}, "eval": {"n": 400},
             "report": {"metrics": ["reverse_kl"]}}
    study.update(extra)
    return study


def write_study(tmp_path: Path, study: dict) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(dump_yaml(study))
    return path


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganscape", *args], capture_output=True, text=True, timeout=300)


def test_plan_refuses_tasks_that_would_train_one_run_twice():
    """A grid level restating the base's value, or a random draw repeating an earlier one, planned two identical
    tasks: both trained, and the report pooled them into one configuration of n 2 (seeds "0, 0")."""
    restated = tiny_study(grid={"loss.name": ["nonsaturating", "hinge"],
                                "variant": {"baseline": {}, "lr-default": {"optim": {"d": {"lr": 0.001}}}}})
    with pytest.raises(ConfigError, match=r"task 1 \(nonsaturating/lr-default/0\) has the same config as task 0 "
                                          r"\(nonsaturating/baseline/0\)"):
        plan_tasks(read_study(restated))
    restates_default = tiny_study(overrides=TINY + ["penalty.name=wgan_gp"],
                                  grid={"variant": {"plain": {}, "w10": {"penalty": {"weight": 10}}}})
    with pytest.raises(ConfigError, match=r"task 1 \(w10/0\) has the same config as task 0 \(plain/0\)"):
        plan_tasks(read_study(restates_default))  # the penalty's default weight, 10.0, written out (as an int)
    space = {"loss.name": {"choice": ["nonsaturating", "hinge"]}, "train.batch_size": {"int": [32, 33]}}
    tasks = plan_tasks(read_study(tiny_study(grid={}, random={"samples": 4, "space": space}, seeds=[0, 1])))
    draws = {(t.config["loss"]["name"], t.config["train"]["batch_size"]) for t in tasks}
    assert len(tasks) == 8 and len(draws) == 4  # every point of the space once (each with both seeds)
    with pytest.raises(ConfigError, match="random.samples: 5 different draws wanted, but the space holds only 4"):
        plan_tasks(read_study(tiny_study(grid={}, random={"samples": 5, "space": space})))
    narrow = {"optim.d.lr": {"uniform": [1.0e-3, 1.0e-3]}}  # one value: it looped for ever
    with pytest.raises(ConfigError, match="random.samples: 2 different draws wanted, but 100 tries per draw gave "
                                          "only 1"):
        plan_tasks(read_study(tiny_study(grid={}, random={"samples": 2, "space": narrow})))


def test_labels_with_line_breaks_are_refused():
    """A level label with a line break broke the task file's header comment (not valid YAML) and status lines."""
    with pytest.raises(ConfigError, match=r"grid.variant: the label 'a\\nb' holds a line break"):
        read_study(tiny_study(grid={"variant": {"a\nb": {"loss": {"name": "hinge"}}}}))
    with pytest.raises(ConfigError, match="random.space.loss.name.choice: the label"):
        read_study(tiny_study(random={"space": {"loss.name": {"choice": ["hinge", "x\ry"]}}}))


def test_plan_is_deterministic_and_expands_grid_random_and_seeds(tmp_path):
    study = tiny_study(
        grid={"dataset": {"ring": {"data": {"name": "ring8"}}, "grid": {"data": {"name": "grid25"}}},
              "loss.name": ["nonsaturating", "wgan"]},
        random={"samples": 2, "seed": 7, "space": {"optim.d.lr": {"loguniform": [1e-4, 1e-3]},
                                                   "train.batch_size": {"choice": [32, 64]}}},
        tie={"optim.g.lr": "optim.d.lr"}, seeds=[0, 1])
    path = write_study(tmp_path, study)
    first, second = plan_tasks(read_study(path)), plan_tasks(read_study(path))
    assert len(first) == 2 * 2 * 2 * 2
    assert [(t.name, t.config) for t in first] == [(t.name, t.config) for t in second]
    t = first[0]
    assert t.factors["dataset"] == "ring" and t.factors["loss.name"] == "nonsaturating" and t.factors["seed"] == "0"
    assert t.config["optim"]["g"]["lr"] == t.config["optim"]["d"]["lr"]
    assert 1e-4 <= t.config["optim"]["d"]["lr"] <= 1e-3 and t.config["train"]["batch_size"] in (32, 64)
    assert first[-1].config["data"]["name"] == "grid25" and first[-1].config["loss"]["name"] == "wgan"
    assert [t.config["seed"] for t in first[:2]] == [0, 1]
    # a different sampling seed draws different hyper-parameters
    other = plan_tasks(read_study({**study, "random": {**study["random"], "seed": 8}}))
    assert [t.config["optim"]["d"]["lr"] for t in other] != [t.config["optim"]["d"]["lr"] for t in first]
    # written plans are byte-identical, and re-planning into the same folder is a no-op
    write_plan(read_study(path), tmp_path / "a")
    _, written_again = write_plan(read_study(path), tmp_path / "a")
    write_plan(read_study(path), tmp_path / "b")
    assert not written_again
    for f in sorted((tmp_path / "a" / "tasks").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / "tasks" / f.name).read_bytes()
    with pytest.raises(ConfigError, match="different study plan"):
        write_plan(read_study({**study, "seeds": [3]}), tmp_path / "a")
    # the same tasks under another eval protocol or resources: refused; another report or description: taken
    for changed, what in (({"eval": {"n": 1000}}, "other eval settings"), ({"resources": {"cpus": 2}}, "resources")):
        with pytest.raises(ConfigError, match=what):
            write_plan(read_study({**study, **changed}), tmp_path / "a")
    # the same protocol spelt otherwise (was refused as "other eval settings")
    write_plan(read_study({**study, "eval": {"metrics": ["modes"], "n": 400}}), tmp_path / "c")
    for spelling in ([{"name": "modes"}], [{"name": "modes", "threshold": 3.0}]):
        assert write_plan(read_study({**study, "eval": {"metrics": spelling, "n": 400}}), tmp_path / "c")[1] == []
    with pytest.raises(ConfigError, match="other eval settings"):
        write_plan(read_study({**study, "eval": {"metrics": ["modes", "kid"], "n": 400}}), tmp_path / "c")
    retitled = {**study, "description": "retitled", "report": {"metrics": ["modes"]}}
    assert write_plan(read_study(retitled), tmp_path / "a")[1] == ["report", "description"]
    with Store(tmp_path / "a") as store:
        assert store.get_meta("description") == "retitled" and store.get_meta("report") == {"metrics": ["modes"]}
    assert read_study(tmp_path / "a" / "study.yaml").description == "retitled"
    assert write_plan(read_study(retitled), tmp_path / "a")[1] == []
    renamed = {**retitled, "name": "renamed"}  # was "unchanged", and the folder kept the old name
    assert write_plan(read_study(renamed), tmp_path / "a")[1] == ["name"]
    with Store(tmp_path / "a") as store:
        assert store.get_meta("name") == "renamed"


def test_plan_rejects_bad_values_naming_the_task_and_key(tmp_path):
    with pytest.raises(ConfigError, match=r"task 1 \(nonsaturating/nope/0\): penalty.name: unknown penalty 'nope'.*wgan_gp"):
        plan_tasks(read_study(tiny_study(grid={"loss.name": ["nonsaturating"], "penalty.name": ["none", "nope"]})))
    for key, values, why in [("schedule.start", [0.5, -0.5], r"must be in \[0, 1\]"),
                             ("optim.d.alpha", [0.9, 1.5], r"must be in \[0, 1\)"),
                             ("prior.sigma_init", [0.2, -0.1], "must be > 0")]:
        parts = ["schedule.name=linear_decay", "optim.d.name=rmsprop", "prior.name=deligan"]
        with pytest.raises(ConfigError, match=rf"task 1 .*{key}: {why}"):  # checked when the factory ran: planned
            plan_tasks(read_study(tiny_study(grid={key: values}, overrides=TINY + parts)))
    with pytest.raises(ConfigError, match=r"^tie.optim.g.lr: optim.d.lrr: not a key of the run config"):
        plan_tasks(read_study(tiny_study(tie={"optim.g.lr": "optim.d.lrr"})))  # the tie was not named
    with pytest.raises(ConfigError, match=r"description: expected text, got \['a', 'b'\]"):  # was made text
        read_study(tiny_study(description=["a", "b"]))
    with pytest.raises(ConfigError, match=r"^overrides: train.stepz: unknown key"):  # was blamed on "task 0"
        read_study(tiny_study(overrides=TINY + ["train.stepz=20"]))
    with pytest.raises(ConfigError, match="gird: unknown study key"):
        read_study({**tiny_study(), "gird": {}})
    with pytest.raises(ConfigError, match="random.space.optim.d.lr"):
        read_study(tiny_study(random={"space": {"optim.d.lr": {"normal": [0, 1]}}}))
    # bounds numpy cannot draw from came out as tracebacks; an int range of non-integers drew 3 from [1.5, 3.7]
    with pytest.raises(ConfigError, match=r"^grid.variant: labels must be distinct as text, got \[1, '1'\]"):
        read_study(tiny_study(grid={"variant": {1: {"loss": {"name": "hinge"}}, "1": {"loss": {"name": "wgan"}}}}))
    whole = "expected .low, high., two whole numbers"
    for kind, bounds, why in (("uniform", [-1e308, 1e308], "high - low must be a finite number"),
                              ("int", [1, 10 ** 30], whole), ("int", [1.5, 3.7], whole)):
        with pytest.raises(ConfigError, match=rf"^random.space.train.steps.{kind}: {why}"):
            read_study(tiny_study(random={"space": {"train.steps": {kind: bounds}}}))
    assert read_study(tiny_study(random={"space": {"train.steps": {"int": [32, 256.0]}}}))  # whole, written as floats


def test_builtin_studies_plan(tmp_path):
    assert {"landscape-toy", "stylegan-pair"} <= set(builtin_names())
    for name in builtin_names():  # every task of every built-in study is a valid run config
        assert plan_tasks(read_study(name)), name
    tasks = plan_tasks(read_study("landscape-toy"))
    assert len(tasks) >= 12
    losses = {t.config["loss"]["name"] for t in tasks}
    assert {"nonsaturating", "wgan"} <= losses


def test_stylegan_pair_study_trains_exactly_the_two_presets():
    overrides = ["train.sample_every=0", "train.checkpoint_every=1000"]
    tasks = plan_tasks(read_study("stylegan-pair"))
    by_d = {}
    for task in tasks:
        by_d.setdefault(task.config["discriminator"]["name"], []).append(task.config)
    assert sorted(by_d) == ["dcgan", "stylegan"]
    for d_name, preset in (("dcgan", "stylegan-digits"), ("stylegan", "stylegan-pair-digits")):
        assert [c["seed"] for c in by_d[d_name]] == [0, 1, 2, 3, 4]
        for config in by_d[d_name]:
            assert config_diff(load_config(preset, overrides + [f"seed={config['seed']}"]), config) == []


def test_run_all_stores_every_task_and_records_crashes(tmp_path, capsys):
    # one task cannot be built (an MLP on images): it must fail with its traceback, the others finish
    study = tiny_study(grid={"dataset": {"ring": {}, "broken": {"data": {"name": "digits", "size": 8}}},
                             "loss.name": ["nonsaturating", "hinge"]})
    out = tmp_path / "study"
    assert main(["study", "plan", str(write_study(tmp_path, study)), "--out", str(out)]) == 0
    run = cli("study", "run", str(out), "--all", "--workers", "2")
    assert run.returncode == 1, run.stderr  # 1: some tasks failed
    with Store(out) as store:
        tasks = {t["id"]: t for t in store.tasks()}
        metrics = [(task_id, r) for task_id, r in store.results()]
    assert [tasks[i]["status"] for i in range(4)] == ["done", "done", "failed", "failed"]
    assert "mlp' is for vector data" in tasks[2]["error"] and "Traceback" in tasks[2]["error"]
    for task_id in (0, 1):
        rows = [r for t, r in metrics if t == task_id]
        assert sorted({r.step for r in rows}) == [20, 40]
        assert {metric_family(r.metric) for r in rows} >= {"modes", "hq_share", "reverse_kl"}
        assert all(r.run == f"runs/task-{task_id:04d}" for r in rows)
        assert tasks[task_id]["train_seconds"] > 0 and tasks[task_id]["attempts"] == 1
    assert main(["study", "status", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 done" in printed and "2 failed" in printed and "is for vector data" in printed
    # re-running skips finished tasks (their attempts do not change) and skips failures on request
    assert cli("study", "run", str(out), "--all", "--skip-failed").returncode == 1
    with Store(out) as store:
        assert [t["attempts"] for t in store.tasks()] == [1, 1, 1, 1]
        assert len(store.results()) == len(metrics)


def test_killed_worker_is_replaced_and_its_task_resumes_without_duplicates(tmp_path):
    study = tiny_study(steps=200, overrides=TINY + ["train.steps=200", "train.log_every=10"],
                       grid={"loss.name": ["nonsaturating"]})
    out = tmp_path / "study"
    assert main(["study", "plan", str(write_study(tmp_path, study)), "--out", str(out)]) == 0
    runner = subprocess.Popen([sys.executable, "-m", "ganscape", "study", "run", str(out), "--all"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first_ckpt = out / "runs" / "task-0000" / "checkpoints" / "ckpt-00000020.pt"
    deadline = time.time() + 120
    while not first_ckpt.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert first_ckpt.exists(), "the worker never wrote a checkpoint"
    with Store(out) as store:
        task = store.task(0)
    assert task["status"] == "running"
    os.kill(task["pid"], signal.SIGKILL)  # the worker, mid-task
    assert runner.wait(timeout=120) == 0  # a new worker resumed the task: one `study run` finishes the study
    final = out / "runs" / "task-0000" / "checkpoints" / "ckpt-00000200.pt"
    with Store(out) as store:
        tasks = store.tasks()
        assert [t["status"] for t in tasks] == ["done"] and tasks[0]["attempts"] == 2
        for t in tasks:
            rows = [r for _, r in store.results(t["id"])]
            steps = sorted({r.step for r in rows})
            assert steps == list(range(20, 201, 20))
            assert len(rows) == len(steps) * len({r.metric for r in rows})
    con = sqlite3.connect(out / "study.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    logged = [json.loads(line)["step"] for line in (out / "runs" / "task-0000" / "metrics.jsonl").read_text().splitlines()]
    assert logged == list(range(10, 201, 10))  # nothing duplicated or lost in the run's log
    # the resumed run equals an uninterrupted one
    from ganscape.training import train

    with Store(out) as store:
        config = store.task(0)["config"]
    train(config, tmp_path / "clean", show_progress=False)
    resumed = torch.load(final, weights_only=True)["models"]["G"]
    clean = torch.load(tmp_path / "clean" / "checkpoints" / "ckpt-00000200.pt", weights_only=True)["models"]["G"]
    for key in clean:
        torch.testing.assert_close(resumed[key], clean[key], rtol=0, atol=0)


@pytest.mark.parametrize("grid, random, message", [
    ({"a": {"x": {"train": {"steps": 5}}}, "b": {"y": {"train": {"steps": 6}}}}, None,
     "grid: a and b both set train.steps"),
    ({"loss.name": ["hinge", "wgan"], "objective": {"ns": {"loss": {"name": "nonsaturating"}}}}, None,
     "grid: loss.name and objective both set loss.name"),
    ({"data": {"wide": {"data": {"std": 0.1}}}}, {"samples": 2, "space": {"data.std": {"uniform": [0.01, 0.1]}}},
     "grid: data and random.space.data.std both set data.std"),
    ({"train.steps": [1, 2]}, {"samples": 99_999, "space": {"optim.d.lr": {"loguniform": [1e-5, 1e-3]}}},
     "grid: the study would have 199,998 tasks"),
    # a tie target that an axis sets: the task labelled 0.005 trained at optim.d.lr's 0.001
    ({"optim.g.lr": [0.005], "loss.name": ["hinge", "wgan"]}, None,
     r"tie.optim.g.lr: optim.g.lr sets it too, and the tie would copy optim.d.lr over its levels silently"),
    ({}, {"samples": 2, "space": {"optim.g.lr": {"loguniform": [1e-5, 1e-3]}}}, "tie.optim.g.lr: random.space"),
    ({}, {"samples": 2, "sed": 3, "space": {"optim.g.lr": {"loguniform": [1e-5, 1e-3]}}},
     "random.sed: unknown key; valid: samples, seed, space")])  # the seed stayed 0
def test_axes_that_set_one_key_or_an_endless_study_are_refused(grid, random, message):
    """Two axes setting one key: the later won silently under the earlier's label; random.samples 10**12 made
    study plan run for ever."""
    spec = {"name": "s", "base": "ring8", "grid": grid, **({"random": random} if random else {}),
            "tie": {"optim.g.lr": "optim.d.lr"}}
    with pytest.raises(ConfigError, match=message):
        read_study(spec)
