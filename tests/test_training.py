"""Training behaviour: DCGAN on digits runs with finite losses; divergence stops cleanly."""
from __future__ import annotations

import json

import pytest
import torch

from ganscape.config import load_config
from ganscape.losses.standard import NonSaturating
from ganscape.training.checkpoint import list_checkpoints
from ganscape.training.trainer import DivergenceError, train


def test_dcgan_on_digits_runs_with_finite_losses(tmp_path):
    config = load_config("dcgan-digits", ["train.steps=30", "train.log_every=5", "train.sample_every=30",
                                          "train.checkpoint_every=30", "generator.ngf=16", "discriminator.ndf=16"])
    run = train(config, tmp_path / "run", show_progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 6
    for row in rows:
        assert all(torch.isfinite(torch.tensor(row[k])) for k in ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g"))
    # D learned something: it separates real from fake better than chance at the end
    assert rows[-1]["loss_d"] < 2 * torch.log(torch.tensor(2.0)).item()
    with torch.no_grad():
        fake = run.ema.shadow(torch.randn(8, 64))
    assert fake.shape == (8, 1, 16, 16) and fake.abs().max() <= 1


def test_every_norm_option_of_the_dcgan_discriminator_trains(tmp_path):
    for norm in ("none", "batch", "layer", "spectral"):
        config = load_config("dcgan-digits", ["train.steps=3", "train.log_every=1", "generator.ngf=8",
                                              "discriminator.ndf=8", f"discriminator.norm={norm}",
                                              "train.sample_every=0"])
        train(config, tmp_path / norm, show_progress=False)


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
    assert "NaN/inf" in message and "step 30" in message and "last good checkpoint is step 20" in message
    assert list(list_checkpoints(tmp_path / "run")) == [10, 20]
