"""Every core objective trains an MLP GAN on the 8-Gaussian ring so that samples land on the modes.

Criterion (2,500 samples from the EMA generator): more than 40% of the samples are high quality
(within 3 std of a centre) and at least 5 of the 8 modes are hit. The same budget for all: 3,000 steps of
batch 256 (10-14 s each on one CPU core). Measured at this budget over seeds 0-5 (30 runs): high-quality share
0.51-0.95 (hinge seed 5 the lowest), 6-8 modes (least squares drops modes: 6-8 in every seed). At the preset's
1,500 steps the earlier criterion (more than 50%, at least 6 modes) held for seed 0 only by luck: it failed for
4 of 25 runs over seeds 0-4 (minimax seed 2 at 36%, hinge seed 4 at 17%, WGAN-GP seed 1 at 4 modes and 11%,
seed 4 at 45%), and for seed 0 itself under a last-bit change of the arithmetic (PyTorch's fused Adam: NS 25%,
WGAN-GP 7%), which another CPU's kernels can make as well.
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
    config = load_config("ring8", [f"loss.name={objective}", "train.steps=3000", "train.sample_every=0",
                                   "train.checkpoint_every=0", *OBJECTIVES[objective]])
    train(config, tmp_path / "run", show_progress=False)
    generator = load_generator(tmp_path / "run")
    centers, std = generator.data_meta["info"]["centers"], generator.data_meta["info"]["std"]
    result = toy_mode_metrics(generator.sample(2500, seed=1), centers, std)
    assert result["hq_share"] > 0.4, result
    assert result["modes"] >= 5, result
