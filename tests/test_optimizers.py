"""Optimisers chosen by name (Adam, RMSProp, SGD) and WGAN weight clipping."""
from __future__ import annotations

import pytest
import torch

from ganscape.config import load_config
from ganscape.penalties import build_penalty
from ganscape.registry import ConfigError
from ganscape.training import Trainer

TINY = ["data.n=256", "generator.hidden=16", "discriminator.hidden=16", "train.steps=4", "train.batch_size=16",
        "train.checkpoint_every=0", "train.sample_every=0", "train.log_every=1", "device=cpu"]


def trainer(*overrides: str) -> Trainer:
    return Trainer(load_config("ring8", [*TINY, *overrides]))


def test_optimisers_are_chosen_by_name_with_their_options():
    parts = trainer("optim.d.name=rmsprop", "optim.d.lr=5e-5", "optim.g.name=sgd", "optim.g.momentum=0.9").parts
    assert isinstance(parts.opt_d, torch.optim.RMSprop) and parts.opt_d.defaults["lr"] == 5e-5
    assert parts.opt_d.defaults["alpha"] == 0.99  # PyTorch's default smoothing, as the WGAN reference code uses
    assert isinstance(parts.opt_g, torch.optim.SGD) and parts.opt_g.defaults["momentum"] == 0.9
    assert parts.opt_g.defaults["lr"] == 1e-2  # the section was replaced: sgd's own default, not ring8's Adam lr
    assert isinstance(trainer().parts.opt_d, torch.optim.Adam)


def test_one_rmsprop_step_equals_the_formula():
    t = trainer("optim.d.name=rmsprop", "optim.d.lr=0.01", "train.steps=1")
    w = t.parts.D.net[0].weight
    before = w.detach().clone()
    grads = []
    w.register_hook(lambda g: grads.append(g.detach().clone()))
    t.fit()
    g = grads[-1]
    expected = before - 0.01 * g / ((1 - 0.99) * g ** 2).sqrt().add(1e-8)  # v = (1 - alpha) g^2 after one step
    assert torch.allclose(w.detach(), expected, atol=1e-7)


@pytest.mark.parametrize("overrides,message", [
    (["optim.d.name=adagrad"], "optim.d.name: unknown optimizer 'adagrad'; registered: adam, rmsprop, sgd"),
    (["optim.d.name=rmsprop", "optim.d.betas=[0.5, 0.9]"], "optim.d.betas: optimizer 'rmsprop' has no option"),
    (["optim.g.name=sgd", "optim.g.lr=0"], "optim.g.lr: must be a finite number > 0.0, got 0"),
    (["optim.d.name=sgd", "optim.d.momentum=-1"], "optim.d.momentum: must be >= 0"),
    (["penalty.name=weight_clip", "penalty.c=0"], "penalty.c: must be >= 1e-12"),
])
def test_bad_optimiser_settings_are_refused_in_one_line(overrides, message):
    with pytest.raises(ConfigError) as err:
        trainer(*overrides)
    assert str(err.value).startswith(message), str(err.value)


def test_weight_clipping_clamps_every_critic_parameter_after_each_step():
    t = trainer("loss.name=wgan", "penalty.name=weight_clip", "penalty.c=0.01", "optim.d.name=rmsprop")
    with torch.no_grad():
        for p in t.parts.D.parameters():
            p.mul_(100)  # far outside [-c, c]
    t.fit()
    values = torch.cat([p.detach().flatten() for p in t.parts.D.parameters()])
    assert values.abs().max() == pytest.approx(0.01) and (values.abs() == 0.01).sum() > 10


def test_weight_clipping_bounds_the_weights_an_equalised_learning_rate_critic_uses():
    """StyleGAN's critic multiplies its stored N(0, 1) weights by gain / sqrt(fan_in) at run time: clamping the stored
    ones to c bounded the used ones at c times that, and the default 16 px critic's scores spread by 5e-13 (1e-8 now).
    The used weights are clamped to [-c, c], as a plain layer's are."""
    from ganscape.models.stylegan import EqualConv2d, EqualLinear

    config = load_config("stylegan-pair-digits", ["data.size=16", "discriminator.fmap_base=64",
                                    "discriminator.fmap_max=8", "loss.name=wgan", "penalty.name=weight_clip",
                                    "optim.d.name=rmsprop", "train.batch_size=8", "train.steps=1", "device=cpu",
                                    "train.checkpoint_every=0", "train.sample_every=0", "train.log_every=1"])
    t = Trainer(config)
    t.fit()
    D = t.parts.D
    layers = [m for m in D.modules() if isinstance(m, (EqualConv2d, EqualLinear))]
    assert layers
    for layer in layers:
        used = layer.weight * layer.scale
        assert used.abs().max().item() == pytest.approx(0.01)  # the N(0, 1) x scale weights reach the bound
    others = [p for m in D.modules() if not isinstance(m, (EqualConv2d, EqualLinear))
              for p in m.parameters(recurse=False)]
    assert others and all(p.abs().max() <= 0.01 for p in others)


def test_weight_clipping_adds_no_loss_term():
    assert build_penalty({"name": "weight_clip"})(None, torch.zeros(2, 2), torch.zeros(2, 2)) is None


def test_naming_the_optimiser_a_section_already_uses_keeps_its_settings():
    # ring8's optim sections name no optimiser; giving them Adam's name must not reset lr to Adam's default
    assert load_config("ring8", ["optim.d.name=adam"])["optim"]["d"]["lr"] == 0.001
    config = load_config({"base": "ring8", "optim": {"d": {"name": "adam", "betas": [0.0, 0.9]}}})
    assert config["optim"]["d"] == {"name": "adam", "lr": 0.001, "betas": [0.0, 0.9]}
    # another optimiser starts from its own defaults
    assert load_config("ring8", ["optim.d.name=rmsprop"])["optim"]["d"] == {"name": "rmsprop"}


def test_rmsprop_smoothing_must_be_below_one():
    with pytest.raises(ConfigError, match=r"optim.d.alpha: must be in \[0, 1\), got 1.0"):
        load_config("ring8", ["optim.d.name=rmsprop", "optim.d.alpha=1.0"])  # when read, not when built
