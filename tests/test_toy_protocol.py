"""The PacGAN/VEEGAN toy protocol as presets: networks, optimiser and data exactly as published, and WGAN as first
published (weight clipping, RMSProp)."""
from __future__ import annotations

import math

import torch

from ganscape.config import load_config
from ganscape.models.mlp import LinearMaxout
from ganscape.training import Trainer
from ganscape.training.schemes.simultaneous import Simultaneous

FEW = ["train.steps=3", "train.log_every=1", "train.checkpoint_every=0", "train.sample_every=0", "data.n=1000",
       "device=cpu"]


def test_grid25_paper_has_the_published_networks_optimiser_and_data():
    parts = Trainer(load_config("grid25-paper", FEW)).parts
    linears = [m for m in parts.G.modules() if isinstance(m, torch.nn.Linear)]
    norms = [m for m in parts.G.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert [(m.in_features, m.out_features, m.bias is not None) for m in linears] == \
        [(2, 400, False), (400, 400, False), (400, 400, False), (400, 400, False), (400, 2, True)]
    assert len(norms) == 4 and all(m.momentum == 0.05 for m in norms)  # the PacGAN code's population statistics
    assert isinstance(parts.scheme, Simultaneous)  # its ALI training loop: both gradients from one forward pass
    maxouts = [m for m in parts.D.modules() if isinstance(m, LinearMaxout)]
    assert [(m.linear.in_features, m.out_dim, m.pieces) for m in maxouts] == [(2, 200, 5), (200, 200, 5), (200, 200, 5)]
    assert parts.opt_d.defaults["lr"] == 1e-4 and parts.opt_d.defaults["betas"] == (0.8, 0.999)
    assert parts.batch_size == 100 and load_config("grid25-paper")["train"]["steps"] == 400_000
    centers, std = parts.dataset.info["centers"], parts.dataset.info["std"]
    assert sorted({float(c) for c in centers.flatten()}) == [-4, -2, 0, 2, 4] and std == 0.05
    weights = torch.cat([m.linear.weight.detach().flatten() for m in maxouts])
    assert abs(float(weights.std()) - 0.02) < 0.001  # N(0, 0.02) initialisation


def test_ring8_paper_is_the_unit_circle_with_std_001():
    data = Trainer(load_config("ring8-paper", FEW)).parts.dataset
    radii = data.info["centers"].norm(dim=1)
    assert torch.allclose(radii, torch.ones(8)) and data.info["std"] == 0.01


def test_linear_maxout_takes_the_max_over_each_units_pieces():
    layer = LinearMaxout(3, 4, 5)
    x = torch.randn(6, 3)
    pre = x @ layer.linear.weight.T + layer.linear.bias          # (6, 20): unit u's pieces are 5u .. 5u+4
    expected = torch.stack([pre[:, 5 * u:5 * u + 5].max(dim=1).values for u in range(4)], dim=1)
    assert torch.allclose(layer(x), expected, atol=1e-6)


def test_linear_maxout_passes_each_units_gradient_to_its_winning_piece_only():
    torch.manual_seed(0)
    layer, x = LinearMaxout(3, 4, 5), torch.randn(6, 3)
    upstream = torch.randn(6, 4)
    (layer(x) * upstream).sum().backward()
    pre = (x @ layer.linear.weight.T + layer.linear.bias).detach().reshape(6, 4, 5)
    winner = torch.nn.functional.one_hot(pre.argmax(dim=2), 5).to(x.dtype)      # (6, 4, 5)
    grad_pre = (winner * upstream[:, :, None]).reshape(6, 20)                     # dLoss/d(pre-activation)
    assert torch.allclose(layer.linear.weight.grad, grad_pre.T @ x, atol=1e-6)
    assert torch.allclose(layer.linear.bias.grad, grad_pre.sum(dim=0), atol=1e-6)


def test_linear_maxout_splits_the_gradient_evenly_between_tied_pieces():
    layer = LinearMaxout(1, 1, 3)
    with torch.no_grad():
        layer.linear.weight.copy_(torch.tensor([[1.0], [1.0], [-1.0]]))   # pieces 0 and 1 tie for every x > 0
        layer.linear.bias.zero_()
    layer(torch.tensor([[2.0]])).sum().backward()
    assert layer.linear.bias.grad.tolist() == [0.5, 0.5, 0.0]


def test_wgan_clip_trains_with_rmsprop_five_critic_steps_and_clipped_weights():
    trainer = Trainer(load_config("wgan-clip", FEW))
    assert isinstance(trainer.parts.opt_d, torch.optim.RMSprop) and trainer.parts.opt_d.defaults["lr"] == 5e-5
    assert trainer.parts.scheme.n_critic == 5 and trainer.config["train"]["batch_size"] == 64
    result = trainer.fit()
    assert all(math.isfinite(v) for row in result.history for v in row.values())
    assert max(float(p.detach().abs().max()) for p in trainer.parts.D.parameters()) <= 0.01
