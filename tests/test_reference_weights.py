"""Seeded runs give bit-identical weights to those recorded before the run-framework redesign
(see tests/reference_runs.py): the new trainer core, config reader and parts builders changed
no number of any training trajectory."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ganscape.training import Trainer
from reference_runs import REFERENCE_RUNS, REFERENCE_TRANSLATION, state_digests

RECORDED = json.loads((Path(__file__).parent / "data" / "reference_digests.json").read_text())


@pytest.mark.parametrize("name", sorted(REFERENCE_RUNS))
def test_gan_run_weights_equal_the_recorded_ones(name):
    result = Trainer(REFERENCE_RUNS[name]).fit()
    models = result.parts.modules()
    ema = result.averaged.get("G")
    got = {"G": state_digests(models["G"].state_dict()), "D": state_digests(models["D"].state_dict()),
           "prior": state_digests(models["prior"].state_dict()),
           "G_ema": state_digests(ema.state_dict() if ema is not None else None)}
    for key, digests in RECORDED[name].items():
        assert got[key] == digests, f"{name}: {key} weights differ from the pre-redesign run"


def test_cyclegan_run_weights_equal_the_recorded_ones():
    result = Trainer(REFERENCE_TRANSLATION).fit()  # the pre-redesign translation config format
    models = result.parts.modules()
    for key, digests in RECORDED["cyclegan"].items():
        assert state_digests(models[key].state_dict()) == digests, f"cyclegan: {key} differs"
