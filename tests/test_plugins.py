"""A user's own parts from their own module: ``GANSCAPE_PLUGINS`` makes the command line, its study workers and the
report see them as they see the built-in parts; a bad module name or a refused registration is one line."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ganscape.config import dump_yaml
from ganscape.registry import ConfigError

PLUGIN = '''
"""A least-squares objective with its own targets and a toy metric, registered as a user would."""
import torch

from ganscape.losses import OBJECTIVES, Objective
from ganscape.metrics import METRICS
from ganscape.metrics.registry import HIGHER, Metric


@OBJECTIVES.register("ls_targets", "least squares with real target 1 and fake target a")
class LeastSquaresTargets(Objective):
    def __init__(self, a: float = -1.0):
        self.a = a

    def d_loss(self, real, fake):
        return ((real - 1) ** 2).mean() + ((fake - self.a) ** 2).mean()

    def g_loss(self, fake, real=None):
        return ((fake - 1) ** 2).mean()


@METRICS.register("closeness", "minus the mean distance to the nearest mode centre", needs="toy",
                  outputs={"closeness": HIGHER})
def closeness():
    def compute(i):
        distance = torch.cdist(torch.as_tensor(i.toy_samples), torch.as_tensor(i.centers)).min(dim=1).values
        return {"closeness": (-float(distance.mean()), None)}
    return Metric("closeness", "toy", compute)
'''


TINY = ["train.steps=20", "train.checkpoint_every=20", "train.sample_every=0", "train.batch_size=64",
        "generator.hidden=16", "discriminator.hidden=16"]


def run(tmp_path: Path, *args: str, plugins: str = "mylab_parts") -> subprocess.CompletedProcess:
    env = {**os.environ, "GANSCAPE_PLUGINS": plugins,
           "PYTHONPATH": os.pathsep.join([str(tmp_path / "lab"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "ganscape", *args], capture_output=True, text=True, timeout=600,
                          env=env, cwd=tmp_path)


@pytest.fixture
def lab(tmp_path):
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "mylab_parts.py").write_text(PLUGIN)
    (tmp_path / "lab" / "mylab_clash.py").write_text(textwrap.dedent('''
        from ganscape.metrics import METRICS
        METRICS.register("myfid", "not a Frechet distance", needs="features", outputs={"fid": "lower"})(print)
    '''))
    (tmp_path / "lab" / "mylab_needs.py").write_text("import a_dependency_not_installed\n")
    return tmp_path


def test_the_command_line_and_its_study_workers_use_a_users_parts(lab):
    listed = run(lab, "metrics")
    assert listed.returncode == 0 and "closeness" in listed.stdout, listed.stderr[-2000:]
    trained = run(lab, "train", "ring8", "loss.name=ls_targets", "loss.a=0.0", *TINY, "--out", "r")
    assert trained.returncode == 0, trained.stderr[-2000:]
    spec = {"name": "own-parts", "base": "ring8", "overrides": TINY,
            "grid": {"loss.a": [-1.0, 0.0]}, "seeds": [0], "eval": {"metrics": ["closeness"], "n": 200},
            "report": {"metrics": ["closeness"]}}
    (lab / "own.yaml").write_text(dump_yaml({**spec, "overrides": spec["overrides"] + ["loss.name=ls_targets"]}))
    for args in (("study", "plan", "own.yaml", "--out", "s"), ("study", "run", "s", "--all", "--workers", "1"),
                 ("study", "report", "s", "--out", "s/report.csv")):
        done = run(lab, *args)
        assert done.returncode == 0, (args, done.stderr[-2000:])
    rows = [r for r in csv.DictReader((lab / "s" / "report.csv").open()) if r["row"] == "run"]
    scores = [float(r["closeness200_toy"]) for r in rows]
    assert [r["status"] for r in rows] == ["done", "done"] and scores == sorted(scores, reverse=True)
    assert [r["rank"] for r in rows] == ["1", "2"]  # ranked higher-is-better, as the metric registered


@pytest.mark.parametrize("plugins, message", [
    ("no_such_lab", "GANSCAPE_PLUGINS: no module 'no_such_lab'"),
    ("mylab parts", "GANSCAPE_PLUGINS: 'mylab parts' is not a module name"),
    ("mylab_clash", "GANSCAPE_PLUGINS: importing 'mylab_clash' failed at {lab}/mylab_clash.py:3: ValueError: metric "
                    "'myfid': output 'fid' is already an output of metric 'fid'"),
    ("mylab_needs", "GANSCAPE_PLUGINS: importing 'mylab_needs' failed at {lab}/mylab_needs.py:1: ModuleNotFoundError: "
                    "No module named 'a_dependency_not_installed'"),  # the dependency is missing, not the module
])
def test_a_plugin_that_cannot_be_used_is_one_line(lab, plugins, message, monkeypatch, capsys):
    from ganscape.cli import main
    from ganscape.metrics import METRICS

    monkeypatch.syspath_prepend(str(lab / "lab"))
    monkeypatch.setenv("GANSCAPE_PLUGINS", plugins)
    assert main(["presets"]) == 2
    assert capsys.readouterr().err.startswith(f"ganscape: error: {message.format(lab=lab / 'lab')}")
    assert "myfid" not in METRICS.names()


def test_a_users_penalty_that_would_do_nothing_is_refused(lab):
    """A penalty written with its term in a method named ``penalty`` (as docs/architecture.md once said) trained
    without it: its class kept Penalty's __call__, which adds nothing."""
    (lab / "lab" / "mylab_penalty.py").write_text(textwrap.dedent('''
        from ganscape.penalties import PENALTIES
        from ganscape.penalties.base import Penalty

        class Huge(Penalty):
            def penalty(self, critic, x_real, x_fake, y_real=None, y_fake=None):
                return 1e6 * critic(x_real).pow(2).mean()

        PENALTIES.register("huge", "a penalty whose term is never called")(Huge)
    '''))
    done = run(lab, "train", "ring8", "penalty.name=huge", *TINY, "--out", str(lab / "run"), plugins="mylab_penalty")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "penalty.name: 'huge' builds a Huge that overrides neither __call__" in done.stderr
    assert not (lab / "run").exists()


def test_a_ray_task_imports_the_drivers_plugins_first(lab, monkeypatch):
    from ganscape.studies.backends.ray import remote_task

    monkeypatch.syspath_prepend(str(lab / "lab"))
    with pytest.raises(ConfigError, match="GANSCAPE_PLUGINS: no module 'no_such_lab'"):
        next(remote_task(str(lab / "s"), 0, {}, {}, [], 1, ["no_such_lab"]))
