"""The trainer core: training with no folder, logged history, divergence stops, LR schedules."""
from __future__ import annotations

import io
import json
import math

import pytest
import torch

from ganscape.config import load_config
from ganscape.losses.standard import NonSaturating
from ganscape.training import DivergenceError, Trainer, train
from ganscape.training.checkpoint import list_checkpoints, read_checkpoint
from ganscape.training.schedules import SCHEDULES, build_schedule


def test_dcgan_on_digits_runs_with_finite_losses(tmp_path):
    config = load_config("dcgan-digits", ["train.steps=30", "train.log_every=5", "train.sample_every=30",
                                          "train.checkpoint_every=30", "generator.ngf=16", "discriminator.ndf=16"])
    result = train(config, tmp_path / "run", show_progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 6
    for row in rows:
        assert all(math.isfinite(row[k]) for k in ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g"))
    # D learned something: it separates real from fake better than chance at the end
    assert rows[-1]["loss_d"] < 2 * math.log(2.0)
    with torch.no_grad():
        fake = result.generator()(torch.randn(8, 64))
    assert fake.shape == (8, 1, 16, 16) and fake.abs().max() <= 1


def test_trainer_needs_no_folder_and_returns_parts_and_history(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trainer = Trainer("ring8", ["train.log_every=10", "train.ema_decay=0.9", "generator.hidden=32",
                                "discriminator.hidden=32"])
    before = {k: v.clone() for k, v in trainer.parts.G.state_dict().items()}
    result = trainer.fit(40)
    assert [row["step"] for row in result.history] == [10, 20, 30, 40]
    assert all(math.isfinite(row["loss_d"]) for row in result.history)
    assert any(not torch.equal(before[k], v) for k, v in result.parts.G.state_dict().items())
    ema = result.generator()
    assert ema is not result.parts.G and not ema.training  # the EMA average, in eval mode
    assert list(tmp_path.iterdir()) == []  # nothing written anywhere
    more = trainer.fit(10)  # fit continues where it stopped
    assert more.history[-1]["step"] == 50


def test_progress_without_a_terminal_prints_by_the_clock_between_logging_steps(monkeypatch):
    """Lines came only on logging steps: a slow preset with log_every 100 said nothing for its first minutes."""
    from ganscape.training.callbacks import progress

    monkeypatch.setattr(progress, "LINE_EVERY_S", 0.0)  # every step is "10 s later"
    stream = io.StringIO()
    trainer = Trainer("ring8", ["train.log_every=3", "generator.hidden=16", "discriminator.hidden=16"],
                      callbacks=[progress.Progress(stream, interactive=False)])
    trainer.fit(5)
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["1/5", "2/5", "3/5", "4/5", "5/5"]
    assert "loss_d" not in lines[1] and "loss_d" in lines[2] and "loss_d" in lines[4]  # the newest logged losses


def test_divergence_stops_with_message_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    original = NonSaturating.g_loss
    calls = {"n": 0}

    def exploding(self, fake, real=None):
        calls["n"] += 1
        loss = original(self, fake, real)
        return loss * float("nan") if calls["n"] > 25 else loss

    monkeypatch.setattr(NonSaturating, "g_loss", exploding)
    config = load_config("ring8", ["train.steps=100", "train.checkpoint_every=10", "train.log_every=5",
                                   "train.sample_every=0"])
    with pytest.raises(DivergenceError) as info:
        train(config, tmp_path / "run", show_progress=False)
    message = str(info.value)
    assert "loss_g" in message and "became NaN/inf" in message and "step 30" in message and "last good checkpoint is step 20" in message
    assert list(list_checkpoints(tmp_path / "run")) == [10, 20]


def test_weights_that_diverged_are_never_scored_or_drawn(tmp_path):
    """The divergence check ran on log and checkpoint steps alone: with eval.every and sample_every 7 and log_every 5,
    weights that went NaN at step 6 were scored at step 7 (NaN rows in results.jsonl) and drawn into a preview, and
    the run stopped only at step 10."""
    from ganscape.training.callbacks import Callback

    class Overflow(Callback):
        order = -1  # the update of step 6 overflowed: before the EMA and the divergence check

        def on_step_end(self, trainer, step, out, logged, last):
            if step == 6:
                with torch.no_grad():
                    for param in trainer.parts.G.parameters():
                        param.fill_(float("nan"))

    config = load_config("ring8", ["train.steps=20", "train.log_every=5", "train.checkpoint_every=10",
                                   "train.sample_every=7", "eval.every=7", "eval.metrics=[modes]", "train.ema_decay=0",
                                   "generator.hidden=16", "discriminator.hidden=16"])
    with pytest.raises(DivergenceError, match="at or before step 7"):
        train(config, tmp_path / "run", show_progress=False, callbacks=[Overflow()])
    results = tmp_path / "run" / "results.jsonl"
    assert not results.exists() or results.read_text() == ""  # nothing scored
    assert not list((tmp_path / "run" / "samples").glob("step-*.png"))


def test_huge_learning_rates_are_caught_as_a_diverged_update(tmp_path):
    config = load_config("ring8", ["optim.g.lr=1e6", "optim.d.lr=1e6", "train.steps=200", "train.log_every=20",
                                   "train.checkpoint_every=50", "train.sample_every=0"])
    with pytest.raises(DivergenceError, match="NaN/inf"):
        train(config, tmp_path / "run", show_progress=False)
    for path in list_checkpoints(tmp_path / "run").values():  # nothing non-finite was ever saved
        state = read_checkpoint(path)
        assert all(torch.isfinite(t).all() for m in state["models"].values() for t in m.values() if t.is_floating_point())


def test_no_checkpoint_keeps_an_overflowed_optimizer_state(tmp_path):
    """Gradient norms are measured on log steps only: a checkpoint between them was saved with inf in Adam's second
    moment and named the last good one; resuming from it froze or NaN-ed those parameters."""
    config = load_config("ring8", ["optim.g.lr=1e6", "optim.d.lr=1e6", "loss.name=wgan", "train.steps=300",
                                   "generator.hidden=16", "discriminator.hidden=16", "train.batch_size=16",
                                   "train.log_every=10", "train.checkpoint_every=7", "train.sample_every=0"])
    with pytest.raises(DivergenceError, match="NaN/inf"):
        train(config, tmp_path / "run", show_progress=False)
    for path in list_checkpoints(tmp_path / "run").values():
        state = read_checkpoint(path)
        for opt in state["optimizers"].values():
            assert all(torch.isfinite(v).all() for s in opt["state"].values() for v in s.values()
                       if isinstance(v, torch.Tensor) and v.is_floating_point()), path.name


def test_schedules_are_registered_and_follow_their_formulas():
    assert {"constant", "linear_decay", "cosine"} <= set(SCHEDULES.names())
    linear = build_schedule({"name": "linear_decay", "start": 0.5, "end_factor": 0.0})
    assert [linear.factor(done, 100) for done in (0, 50, 75, 100)] == [1.0, 1.0, 0.5, 0.0]
    cosine = build_schedule({"name": "cosine", "end_factor": 0.1})
    assert cosine.factor(0, 10) == pytest.approx(1.0) and cosine.factor(10, 10) == pytest.approx(0.1)
    assert cosine.factor(5, 10) == pytest.approx(0.55)


def test_linear_decay_sets_the_learning_rates_and_resumes_exactly(tmp_path):
    overrides = ["schedule.name=linear_decay", "train.steps=40", "train.log_every=10", "train.checkpoint_every=20",
                 "train.sample_every=0", "generator.hidden=16", "discriminator.hidden=16", "optim.g.lr=0.002"]
    whole = train(load_config("ring8", overrides), tmp_path / "whole", show_progress=False)
    assert [round(r["lr_factor"], 4) for r in whole.history] == [1.0, 1.0, 0.55, 0.05]
    assert whole.parts.opt_g.param_groups[0]["lr"] == pytest.approx(0.002 * 0.05)
    train(load_config("ring8", overrides), tmp_path / "split", show_progress=False, stop_at=20)
    split = train(load_config("ring8", overrides), tmp_path / "split", show_progress=False)
    for a, b in zip(whole.parts.G.state_dict().values(), split.parts.G.state_dict().values()):
        assert torch.equal(a, b)
    # the schedule depends on train.steps, so the budget of a decaying run cannot change on resume
    with pytest.raises(Exception, match="train.steps: 40 -> 60"):
        train(load_config("ring8", overrides + ["train.steps=60"]), tmp_path / "whole", show_progress=False)
