"""Every core objective trains an MLP GAN on the 8-Gaussian ring so that samples land on the modes.

Criterion (2,500 samples from the EMA generator): more than half the samples are high quality
(within 3 std of a centre) and at least 6 of the 8 modes are hit. The same budget for all:
1,500 steps of batch 256 (~15 s each on one CPU core).
"""
from __future__ import annotations

import pytest

from ganscape.config import load_config
from ganscape.loading import load_generator
from ganscape.metrics.modes import toy_mode_metrics
from ganscape.training import train

OBJECTIVES = {
    "nonsaturating": [],
    "minimax": [],
    "least_squares": [],
    "hinge": [],
    # WGAN-GP toy setting of Gulrajani et al.'s toy experiments: lambda 0.1, Adam betas (0.5, 0.9)
    "wgan": ["penalty.name=wgan_gp", "penalty.weight=0.1", "optim.g.betas=[0.5, 0.9]", "optim.d.betas=[0.5, 0.9]"],
}


@pytest.mark.parametrize("objective", sorted(OBJECTIVES))
def test_objective_learns_the_ring(tmp_path, objective):
    config = load_config("ring8", [f"loss.name={objective}", "train.sample_every=0", "train.checkpoint_every=0",
                                   *OBJECTIVES[objective]])
    train(config, tmp_path / "run", show_progress=False)
    generator = load_generator(tmp_path / "run")
    centers, std = generator.data_meta["info"]["centers"], generator.data_meta["info"]["std"]
    result = toy_mode_metrics(generator.sample(2500, seed=1), centers, std)
    assert result["hq_share"] > 0.5, result
    assert result["modes"] >= 6, result
