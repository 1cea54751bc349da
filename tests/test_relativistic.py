"""Relativistic objectives: each D and G loss pinned against a direct numpy formula."""
import numpy as np
import pytest
import torch

from ganscape.config import load_config
from ganscape.losses import OBJECTIVES, build_objective
from ganscape.training import Trainer, build_parts
from learning import toy_modes
from ganscape.training.schemes import build_scheme

R = np.array([1.3, -0.4, 2.2, 0.1, -1.7])
F = np.array([-0.8, 0.6, -2.1, 0.9, 0.3])


def bce1(x):  # BCE(x, 1) = -log sigmoid(x)
    return np.mean(np.log1p(np.exp(-x)))


def bce0(x):  # BCE(x, 0) = -log(1 - sigmoid(x))
    return np.mean(np.log1p(np.exp(x)))


def relu(x):
    return np.maximum(x, 0)


EXPECTED = {  # (D loss, G loss) from the RelativisticGAN reference table
    "rsgan": (bce1(R - F), bce1(F - R)),
    "rasgan": ((bce1(R - F.mean()) + bce0(F - R.mean())) / 2,
               (bce0(R - F.mean()) + bce1(F - R.mean())) / 2),
    "ralsgan": ((np.mean((R - F.mean() - 1) ** 2) + np.mean((F - R.mean() + 1) ** 2)) / 2,
                (np.mean((R - F.mean() + 1) ** 2) + np.mean((F - R.mean() - 1) ** 2)) / 2),
    "rahinge": ((np.mean(relu(1 - (R - F.mean()))) + np.mean(relu(1 + (F - R.mean())))) / 2,
                (np.mean(relu(1 + (R - F.mean()))) + np.mean(relu(1 - (F - R.mean())))) / 2),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_losses_match_reference_formulas(name):
    obj = build_objective({"name": name})
    r, f = torch.tensor(R, dtype=torch.float64), torch.tensor(F, dtype=torch.float64)
    d_expected, g_expected = EXPECTED[name]
    assert obj.uses_real_in_g
    assert float(obj.d_loss(r, f)) == pytest.approx(d_expected, rel=1e-12)
    assert float(obj.g_loss(f, r)) == pytest.approx(g_expected, rel=1e-12)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_generator_loss_depends_on_real_scores(name):
    obj = build_objective({"name": name})
    r = torch.tensor(R, requires_grad=True)
    f = torch.tensor(F, requires_grad=True)
    obj.g_loss(f, r).backward()
    assert r.grad.abs().sum() > 0 and f.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="real"):
        obj.g_loss(f.detach())


def test_registered():
    assert {"rsgan", "rasgan", "ralsgan", "rahinge"} <= set(OBJECTIVES.names())


def test_g_step_scores_a_real_batch_and_updates_g_only():
    """In the alternating scheme, the G step of a relativistic loss reads a fresh real batch
    and changes G, not D."""
    torch.manual_seed(0)
    cfg = load_config({"loss": {"name": "rasgan"}, "generator": {"name": "mlp", "hidden": 16},
                       "discriminator": {"name": "mlp", "hidden": 16},
                       "train": {"batch_size": 32, "steps": 2}})
    run = build_parts(cfg)
    scheme = build_scheme(cfg["scheme"])
    d_before = [p.detach().clone() for p in run.D.parameters()]
    fake = scheme.fresh_fake(run)
    position = run.batches.position
    d_calls = []
    hook = run.D.register_forward_hook(lambda m, i, o: d_calls.append(i[0].shape[0]))
    out = scheme.generator_steps(run, True, fake)
    hook.remove()
    assert run.batches.position == position + 1  # one real batch was drawn for G's loss
    assert len(d_calls) == 2  # D(real) and D(fake)
    assert out["grad_norm_g"] > 0
    assert all(torch.equal(a, b) for a, b in zip(d_before, run.D.parameters()))


def test_rasgan_learns_the_ring_modes():
    """The ring8-rasgan preset: after 2000 steps 8/8 modes and 50-89% high quality in each of seeds 0-5. (At 1000
    steps seeds 3 and 4 had 42% and 7%: the former bar of 45% held for seed 0 only.)"""
    modes = toy_modes(Trainer("ring8-rasgan", ["train.log_every=500"]).fit(2000))
    assert modes["modes"] >= 7 and modes["hq_share"] > 0.4, modes
