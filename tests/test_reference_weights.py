"""Seeded runs give bit-identical weights to those recorded before the run-framework redesign
(see tests/reference_runs.py): the new trainer core, config reader and parts builders changed
no number of any training trajectory."""
from __future__ import annotations

import pytest

from reference_runs import DATA, REFERENCE_RUNS, matches_a_recording, recorded_variants, run_digests

RECORDED = recorded_variants(DATA, "reference_digests")


@pytest.mark.parametrize("name", [*sorted(REFERENCE_RUNS), "cyclegan"])  # cyclegan: the pre-redesign config format
def test_run_weights_equal_the_recorded_ones(name):
    assert matches_a_recording(run_digests(name), [r[name] for r in RECORDED if name in r]), \
        f"{name}: weights differ from the pre-redesign run's on every recorded machine family"
