"""Run folders written by ganscape 0.1 (the first checkpoint format, checked in under
tests/data/legacy_v1) are read by the one loader, sample exactly as they did, and resume."""
from __future__ import annotations

import shutil

import pytest

from ganscape.cli import main
from ganscape.config import load_config
from ganscape.loading import open_run
from ganscape.training import train
from ganscape.training.checkpoint import list_checkpoints
from reference_runs import LEGACY, legacy_sample_digests, matches_a_recording, recorded_variants

# one recording per CPU family, as for the reference runs (tests/reference_runs.py)
RECORDINGS = recorded_variants(LEGACY, "sample_digests")


@pytest.mark.parametrize("name, kind", [("ring8", "gan"), ("cdcgan", "conditional"), ("cyclegan", "translation")])
def test_first_format_runs_open_with_their_kind(name, kind):
    run = open_run(LEGACY / name)
    assert run.kind == kind and run.state["version"] == 2 and run.config["kind"] in ("gan", "translation")
    assert set(run.state["models"]) == ({"G_ab", "G_ba", "D_a", "D_b"} if kind == "translation" else {"G", "D", "prior"})


@pytest.mark.parametrize("name", ["ring8", "cdcgan"])
def test_first_format_generators_sample_exactly_as_before(name):
    got = legacy_sample_digests(name)  # the EMA generator's samples and the raw one's
    assert set(got) == {name, f"{name}_raw"} and matches_a_recording(got, RECORDINGS)


def test_first_format_translator_translates_exactly_as_before():
    assert matches_a_recording(legacy_sample_digests("cyclegan"), RECORDINGS)


@pytest.mark.parametrize("name", ["ring8", "cyclegan"])
def test_first_format_run_resumes_with_a_larger_budget(name, tmp_path):
    run = tmp_path / name
    shutil.copytree(LEGACY / name, run)
    start = max(list_checkpoints(run))
    config = load_config(str(run / "config.yaml"), [f"train.steps={start + 2}"])
    result = train(config, run, show_progress=False)
    assert max(list_checkpoints(run)) == start + 2 and result.history[-1]["step"] == start + 2
    assert open_run(run).state["format"] == "ganscape-checkpoint"


def test_commands_read_first_format_runs(tmp_path, capsys):
    assert main(["sample", str(LEGACY / "cdcgan"), "--class", "3", "--n", "4", "--out", str(tmp_path / "c.png")]) == 0
    assert main(["sample", str(LEGACY / "ring8"), "--n", "100", "--out", str(tmp_path / "r.png")]) == 0
    run = tmp_path / "ring8"
    shutil.copytree(LEGACY / "ring8", run)
    assert main(["eval", str(run), "--n", "100"]) == 0
    assert "modes2500_toy" in capsys.readouterr().out
