"""A run interrupted at N/2 and resumed ends with exactly the weights of an uninterrupted run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganscape.config import load_config
from ganscape.training import train
from ganscape.training.checkpoint import list_checkpoints, read_checkpoint

RING = ["train.steps=60", "train.checkpoint_every=15", "train.log_every=10", "train.sample_every=30",
        "train.ema_decay=0.9", "train.batch_size=64", "generator.hidden=32", "discriminator.hidden=32"]
DIGITS = ["train.steps=12", "train.checkpoint_every=3", "train.log_every=2", "train.sample_every=6",
          "data.size=16", "train.batch_size=16", "generator.ngf=8", "discriminator.ndf=8"]


def final_state(run_dir: Path) -> dict:
    checkpoints = list_checkpoints(run_dir)
    return read_checkpoint(checkpoints[max(checkpoints)])


def assert_same_tensors(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for name in a:
        assert torch.equal(a[name], b[name]), f"{what}.{name} differs"


def assert_same_state(a: dict, b: dict) -> None:
    assert a["step"] == b["step"] and a["streams"] == b["streams"]
    for key in a["models"]:
        assert_same_tensors(a["models"][key], b["models"][key], key)
    assert a["callbacks"].keys() == b["callbacks"].keys()
    for key, averaged in a["callbacks"].get("ema", {}).items():
        assert_same_tensors(averaged, b["callbacks"]["ema"][key], f"ema.{key}")
    for key in a["optimizers"]:
        for pid, slots in a["optimizers"][key]["state"].items():
            for slot, value in slots.items():
                other = b["optimizers"][key]["state"][pid][slot]
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(other)), (key, slot)
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])


def losses(run_dir: Path) -> list[tuple]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss_d"], r["loss_g"]) for r in rows]


def check_resume(tmp_path: Path, preset: str, overrides: list[str], stop_at: int) -> None:
    config = load_config(preset, overrides)
    train(config, tmp_path / "whole", show_progress=False)
    train(config, tmp_path / "split", show_progress=False, stop_at=stop_at)
    assert max(list_checkpoints(tmp_path / "split")) == stop_at
    train(config, tmp_path / "split", show_progress=False)
    assert_same_state(final_state(tmp_path / "whole"), final_state(tmp_path / "split"))
    assert losses(tmp_path / "whole") == losses(tmp_path / "split")  # no duplicated or lost log rows


def test_resume_equals_uninterrupted_mlp_with_ema(tmp_path):
    check_resume(tmp_path, "ring8", RING, stop_at=30)


def test_a_checkpoint_read_for_another_device_keeps_its_rng_states_and_step_counts_on_the_cpu(tmp_path):
    """Read with ``map_location`` = the run's device, a resume on a GPU moved the saved RNG states there, and
    ``torch.set_rng_state`` (CPU byte tensors only) stopped it: "RNG state must be a torch.ByteTensor". The meta
    device stands in for the GPU here."""
    from ganscape.runtime import set_rng_state

    train(load_config("ring8", RING), tmp_path / "run", show_progress=False, stop_at=15)
    state = read_checkpoint(list_checkpoints(tmp_path / "run")[15], "meta")
    assert next(iter(state["models"]["G"].values())).device.type == "meta"  # the weights go to the device
    assert state["rng"]["torch"].device.type == "cpu"
    adam = state["optimizers"]["g"]["state"][0]
    assert adam["exp_avg"].device.type == "meta" and adam["step"].device.type == "cpu"  # as torch keeps it
    set_rng_state(state["rng"])


def test_resume_equals_uninterrupted_dcgan_with_batchnorm(tmp_path):
    check_resume(tmp_path, "dcgan-digits", DIGITS, stop_at=6)


def test_resume_with_more_steps_continues(tmp_path):
    short = load_config("ring8", RING[1:] + ["train.steps=30"])
    train(short, tmp_path / "run", show_progress=False)
    longer = load_config("ring8", RING[1:] + ["train.steps=45"])
    train(longer, tmp_path / "run", show_progress=False)
    assert max(list_checkpoints(tmp_path / "run")) == 45


def test_only_the_main_rank_says_what_resuming_found(tmp_path, monkeypatch, caplog):
    """Under torchrun every rank printed the skipped-checkpoint warning and the resuming line: 'exactly one warning
    line' was one per process. A rank other than the main one resumes in silence."""
    import ganscape.distributed

    short = load_config("ring8", RING[1:] + ["train.steps=30"])
    train(short, tmp_path / "run", show_progress=False)
    newest = list_checkpoints(tmp_path / "run")[30]
    newest.write_bytes(newest.read_bytes()[:3000])  # truncated: resuming skips it, with a warning
    monkeypatch.setattr(ganscape.distributed, "is_main_process", lambda: False)
    with caplog.at_level("INFO", logger="ganscape"):
        result = train(load_config("ring8", RING[1:] + ["train.steps=31"]), tmp_path / "run", show_progress=False)
    assert result.history[-1]["step"] == 31 and caplog.records == []


def run_cli(args, **kwargs):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "ganscape", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)


def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path):
    args = ["train", "ring8", "train.steps=200", "train.checkpoint_every=10", "train.log_every=10",
            "train.sample_every=0", "train.ema_decay=0.9", "generator.hidden=16", "discriminator.hidden=16",
            "--no-progress"]
    whole = run_cli(args + ["--out", str(tmp_path / "whole")])
    assert whole.wait(timeout=300) == 0, whole.stderr.read().decode()

    killed = run_cli(args + ["--out", str(tmp_path / "killed")])
    deadline = time.time() + 300
    while not any(step >= 100 for step in list_checkpoints(tmp_path / "killed")):
        assert killed.poll() is None, "run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert max(list_checkpoints(tmp_path / "killed")) < 200
    resumed = run_cli(args + ["--out", str(tmp_path / "killed")])
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    assert_same_state(final_state(tmp_path / "whole"), final_state(tmp_path / "killed"))
    assert losses(tmp_path / "whole") == losses(tmp_path / "killed")


def test_resume_equals_uninterrupted_simultaneous_with_a_lazy_penalty(tmp_path):
    check_resume(tmp_path, "ring8", [*RING, "scheme.name=simultaneous", "penalty={name: r1, gamma: 1.0, every: 4}"],
                 stop_at=30)


def test_resume_equals_uninterrupted_paper_preset_packed_with_slot_batch_norm(tmp_path):
    """The PacGAN toy setting (simultaneous updates, maxout D) packed by 2, G's batch norm per packing slot: the
    running statistics, which sampling uses, survive the checkpoint."""
    check_resume(tmp_path, "ring8-paper", [*RING, "discriminator.pack=2", "generator.bn_groups=2",
                                           "generator.layers=2", "discriminator.layers=2"], stop_at=30)


def test_the_training_clock_goes_on_from_the_checkpoint_across_a_kill(tmp_path, monkeypatch):
    """metrics.jsonl's train_seconds sums every attempt: a run killed after step 45 (its last checkpoint at 30)
    and resumed counts steps 31-45 once, so each row's clock equals its step on a clock that ticks 1 s a step."""
    from types import SimpleNamespace

    from ganscape.training.callbacks import Callback
    from ganscape.training.callbacks import folder

    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(folder, "time", SimpleNamespace(time=lambda: clock.now))

    class Tick(Callback):
        order = 5  # before the logs: the row of step s sees s ticks

        def on_step_end(self, trainer, step, out, logged, last):
            clock.now += 1.0
    config = load_config("ring8", RING)
    run_dir = tmp_path / "run"
    train(config, run_dir, show_progress=False, stop_at=45, callbacks=[Tick()])
    list_checkpoints(run_dir)[45].unlink()  # killed after step 45, before its checkpoint
    clock.now += 500.0  # the time between the kill and the restart is not training
    train(config, run_dir, show_progress=False, callbacks=[Tick()])
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["train_seconds"] for r in rows] == [float(r["step"]) for r in rows]
    assert final_state(run_dir)["callbacks"]["clock"] == {"train_seconds": 60.0}


def test_tensorboard_drops_what_a_killed_attempt_logged_after_its_checkpoint(tmp_path):
    """metrics.jsonl was truncated to the checkpoint on resume, but TensorBoard kept both attempts' values of the
    steps after it (two points for step 25)."""
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    config = load_config("ring8", RING[1:] + ["train.steps=40", "train.log_every=5", "train.checkpoint_every=10"])
    run_dir = tmp_path / "run"
    train(config, run_dir, show_progress=False, stop_at=25)
    list_checkpoints(run_dir)[25].unlink()  # killed after step 25's log, before its checkpoint
    train(config, run_dir, show_progress=False)
    events = accumulator.EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    steps = [point.step for point in events.Scalars("loss_d")]
    assert steps == sorted(set(steps)) == list(range(5, 45, 5))


def test_a_checkpoint_missing_its_parts_is_skipped_and_none_readable_is_refused(tmp_path, caplog):
    """A version-2 file with a valid checksum but no models (or a first-format one with no rng) was a KeyError
    traceback, without falling back to the older checkpoint; when no checkpoint could be read, training silently
    started again from step 0 and overwrote them."""
    from ganscape.registry import ConfigError
    from ganscape.training.checkpoint import write_checkpoint

    config = load_config("ring8", RING[1:] + ["train.steps=30"])
    run_dir = tmp_path / "run"
    train(config, run_dir, show_progress=False)
    state = final_state(run_dir)
    del state["models"]
    write_checkpoint(state, run_dir, 30)
    torch.save({"step": 45, "G": {}}, list_checkpoints(run_dir)[30].with_name("ckpt-00000045.pt"))
    with caplog.at_level("WARNING"):
        train(load_config("ring8", RING[1:] + ["train.steps=60"]), run_dir, show_progress=False)
    assert "not a complete first-format checkpoint" in caplog.text
    assert "not a complete ganscape checkpoint (no valid models)" in caplog.text
    assert max(list_checkpoints(run_dir)) == 60  # resumed from step 15, the newest readable one
    for path in list_checkpoints(run_dir).values():
        path.write_bytes(b"garbage")
    before = {p: p.read_bytes() for p in list_checkpoints(run_dir).values()}
    with pytest.raises(ConfigError, match="none of its .* checkpoint\\(s\\) can be read"):
        train(load_config("ring8", RING[1:] + ["train.steps=90"]), run_dir, show_progress=False)
    assert {p: p.read_bytes() for p in list_checkpoints(run_dir).values()} == before
