"""Run folders written by ganscape 0.1 (the first checkpoint format, checked in under
tests/data/legacy_v1) are read by the one loader, sample exactly as they did, and resume."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from ganscape.cli import main
from ganscape.config import load_config
from ganscape.loading import load_sampler, open_run
from ganscape.training import train
from ganscape.training.checkpoint import list_checkpoints
from reference_runs import recorded_variants, tensor_digest

LEGACY = Path(__file__).parent / "data" / "legacy_v1"
# one recording per CPU family, as for the reference runs (tests/reference_runs.py)
RECORDINGS = recorded_variants(LEGACY, "sample_digests")


def recorded(key: str) -> list[str]:
    return [r[key] for r in RECORDINGS]


@pytest.mark.parametrize("name, kind", [("ring8", "gan"), ("cdcgan", "conditional"), ("cyclegan", "translation")])
def test_first_format_runs_open_with_their_kind(name, kind):
    run = open_run(LEGACY / name)
    assert run.kind == kind and run.state["version"] == 2 and run.config["kind"] in ("gan", "translation")
    assert set(run.state["models"]) == ({"G_ab", "G_ba", "D_a", "D_b"} if kind == "translation" else {"G", "D", "prior"})


@pytest.mark.parametrize("name", ["ring8", "cdcgan"])
def test_first_format_generators_sample_exactly_as_before(name):
    ema = tensor_digest(load_sampler(LEGACY / name, device="cpu").sample(16, seed=0))
    raw = tensor_digest(load_sampler(LEGACY / name, ema=False, device="cpu").sample(16, seed=0))
    assert any(r[name] == ema and r[f"{name}_raw"] == raw for r in RECORDINGS)


def test_first_format_translator_translates_exactly_as_before():
    sampler = load_sampler(LEGACY / "cyclegan", device="cpu")
    torch.manual_seed(0)
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    assert tensor_digest(sampler.translate(x)) in recorded("cyclegan_a2b")


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
