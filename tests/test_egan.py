"""E-GAN: mutation losses, fitness, selection of the fittest child, checkpoint/resume."""
import json

import numpy as np
import pytest
import torch

from ganscape.config import load_config
from ganscape.losses import build_objective
from ganscape.registry import ConfigError
from ganscape.training import Trainer, build_parts, train
from ganscape.training.checkpoint import list_checkpoints, read_checkpoint
from ganscape.training.schemes import build_scheme
from ganscape.training.schemes.egan import fitness_terms, mutation_loss
from learning import toy_modes

F = np.array([1.5, -0.3, 0.2, -2.0, 0.9])


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_mutation_losses():
    f = torch.tensor(F)
    assert float(mutation_loss(0, f)) == pytest.approx(np.mean(np.log(1 - sigmoid(F))), rel=1e-12)
    assert float(mutation_loss(1, f)) == pytest.approx(np.mean(-np.log(sigmoid(F))), rel=1e-12)
    assert float(mutation_loss(2, f)) == pytest.approx(np.mean((sigmoid(F) - 1) ** 2), rel=1e-12)
    with pytest.raises(ValueError):
        mutation_loss(3, f)


class Critic(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))

    def forward(self, x, y=None):
        return self.net(x).flatten()


def test_fitness_terms():
    torch.manual_seed(0)
    D = Critic()
    objective = build_objective({"name": "nonsaturating"})
    x_real, x_fake = torch.randn(6, 2), torch.randn(6, 2)
    f_q, f_d = fitness_terms(D, objective, D(x_real), x_fake)
    # independent: BCE D loss, its gradient over all D parameters, numpy norm
    r, f = D(x_real), D(x_fake)
    loss = -torch.log(torch.sigmoid(r)).mean() - torch.log(1 - torch.sigmoid(f)).mean()
    grads = torch.autograd.grad(loss, list(D.parameters()))
    flat = np.concatenate([g.numpy().ravel() for g in grads])
    assert float(f_q) == pytest.approx(sigmoid(f.detach().numpy()).mean(), rel=1e-6)
    assert float(f_d) == pytest.approx(-np.log(np.linalg.norm(flat)), rel=1e-5)


def tiny_config(parents=1, steps=4, **train):
    return load_config({"seed": 3, "scheme": {"name": "egan", "parents": parents, "gamma": 0.5},
                        "generator": {"name": "mlp", "hidden": 16, "layers": 2},
                        "discriminator": {"name": "mlp", "hidden": 16, "layers": 2},
                        "train": {"steps": steps, "batch_size": 32, "log_every": 1, "checkpoint_every": 0,
                                  "sample_every": 0, **train}})


@pytest.mark.parametrize("parents", [1, 2])
def test_survivors_are_the_fittest_children(parents):
    torch.manual_seed(0)
    cfg = tiny_config(parents)
    run = build_parts(cfg)
    scheme = build_scheme(cfg["scheme"])
    seen = {}
    original = scheme.make_children

    def record(*args, **kwargs):
        seen["children"] = original(*args, **kwargs)
        return seen["children"]

    scheme.make_children = record
    for _ in range(3):
        parent_steps = int(run.opt_g.state_dict()["state"][0]["step"]) if run.opt_g.state else 0
        out = scheme.step(run, True)
    children = seen["children"]
    assert len(children) == 3 * parents
    fitness = np.array([float(c["fitness"]) for c in children])
    best = int(np.argmax(fitness))
    assert float(out["egan_fitness"]) == pytest.approx(fitness[best])
    assert int(out["egan_mutation"]) == children[best]["mutation"]
    for name, value in run.G.state_dict().items():
        assert torch.equal(value, children[best]["snap"]["G"][name])
    # each child is one Adam step past its parent
    assert int(run.opt_g.state_dict()["state"][0]["step"]) == parent_steps + 1
    if parents == 2:
        second = int(np.argsort(-fitness, kind="stable")[1])
        assert len(scheme.extra) == 1
        for name, value in scheme.extra[0]["G"].items():
            assert torch.equal(value, children[second]["snap"]["G"][name])
    for c in children:
        assert float(c["fitness"]) == pytest.approx(float(c["f_q"] + 0.5 * c["f_d"]), rel=1e-6)


def test_children_differ_by_mutation():
    torch.manual_seed(0)
    cfg = tiny_config()
    run = build_parts(cfg)
    scheme = build_scheme(cfg["scheme"])
    scheme.step(run, False)
    from ganscape.training.schemes.egan import snapshot
    children = scheme.make_children(run, [snapshot(run)], False)
    weights = [c["snap"]["G"]["net.0.weight"] for c in children]
    assert not torch.equal(weights[0], weights[1]) and not torch.equal(weights[1], weights[2])


def test_scoring_the_children_leaves_d_and_each_child_s_statistics_as_training_left_them():
    """The fitness passes ran in training mode, so each of them moved a spectral-norm D's power-iteration vectors
    (6 children: 6 more moves than one child) and each child's G batch-norm statistics once past its mutation step."""
    torch.manual_seed(0)
    cfg = load_config({**tiny_config(parents=2), "generator": {"name": "mlp", "hidden": 16, "layers": 2,
                                                                 "norm": "batch"},
                       "discriminator": {"name": "mlp", "hidden": 16, "layers": 2, "norm": "spectral"}})
    run = build_parts(cfg)
    scheme = build_scheme(cfg["scheme"])
    scheme.step(run, False)
    from ganscape.training.schemes.egan import snapshot
    parents = [snapshot(run), *scheme.extra]
    d_buffers = {name: b.clone() for name, b in run.D.named_buffers()}
    assert any("_u" in name for name in d_buffers)
    children = scheme.make_children(run, parents, False)
    for name, b in run.D.named_buffers():
        assert torch.equal(b, d_buffers[name]), name
    tracked = [name for name in parents[0]["G"] if name.endswith("num_batches_tracked")]
    assert tracked
    for i, child in enumerate(children):
        for name in tracked:  # one forward pass in training mode: the mutation's G step
            assert int(child["snap"]["G"][name]) == int(parents[i // 3]["G"][name]) + 1


def test_resume_is_exact_and_logs_mutation(tmp_path):
    straight = train(tiny_config(parents=2, steps=6), tmp_path / "a", show_progress=False)
    cfg = tiny_config(parents=2, steps=6, checkpoint_every=3)
    train(cfg, tmp_path / "b", show_progress=False, stop_at=3)
    state = read_checkpoint(list_checkpoints(tmp_path / "b")[3])
    assert len(state["scheme"]["extra"]) == 1  # the second parent's weights and Adam state
    resumed = train(cfg, tmp_path / "b", show_progress=False)
    for a, b in zip(straight.parts.G.state_dict().values(), resumed.parts.G.state_dict().values()):
        assert torch.equal(a, b)
    rows = [json.loads(line) for line in open(tmp_path / "a" / "metrics.jsonl")]
    assert all(r["egan_mutation"] in (0, 1, 2) and "egan_fitness" in r for r in rows)
    wins = [sum(r[f"egan_wins_{m}"] for m in ("minimax", "heuristic", "least_squares")) for r in rows]
    assert wins == [1] * 6  # log_every 1: each log counts exactly the one step since the last


def test_config_errors():
    for bad in ({"parents": 0}, {"gamma": -1.0}, {"n_critic": 0}):
        with pytest.raises(ConfigError):
            load_config({"scheme": {"name": "egan", **bad}}) and build_scheme({"name": "egan", **bad})


def test_egan_learns_the_ring_modes():
    """The ring8-egan preset (E-GAN with the toy fitness weight gamma 1) puts samples on all the
    ring's modes: after 2000 steps 8/8 modes and 55-93% high quality in each of seeds 0-5. (At 1000 steps
    seed 4 had 31% and seed 0 under fused Adam's last-bit rounding 6 modes at 28%: too close to the line.)"""
    result = Trainer("ring8-egan", ["train.log_every=500"]).fit(2000)
    modes = toy_modes(result)
    assert modes["modes"] >= 7 and modes["hq_share"] > 0.4, modes
