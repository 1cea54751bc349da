"""Turing-test GAN: T-SGAN / T-WGAN formulas, the pair critic, and its plain-critic form."""
import numpy as np
import pytest
import torch

from ganscape.losses import build_objective
from ganscape.models import build_discriminator
from ganscape.registry import ConfigError
from ganscape.training import Trainer
from learning import toy_modes

T_RF = np.array([0.7, -1.2, 2.5, 0.0, -0.3])  # T(x_r, x_f)
T_FR = np.array([-0.2, 1.1, -1.9, 0.4, 0.8])  # T(x_f, x_r)


def log_sigmoid(x):
    return -np.log1p(np.exp(-x))


def log_one_minus_sigmoid(x):
    return -np.log1p(np.exp(x))


def test_tsgan_formula():
    obj = build_objective({"name": "tsgan"})
    rf, fr = torch.tensor(T_RF), torch.tensor(T_FR)
    d = np.mean(-log_sigmoid(T_RF) - log_one_minus_sigmoid(T_FR))
    g = np.mean(-log_one_minus_sigmoid(T_RF) - log_sigmoid(T_FR))
    assert float(obj.d_loss(rf, fr)) == pytest.approx(d, rel=1e-12)
    assert float(obj.g_loss(fr, rf)) == pytest.approx(g, rel=1e-12)
    assert obj.uses_real_in_g


def test_twgan_formula():
    obj = build_objective({"name": "twgan"})
    rf, fr = torch.tensor(T_RF), torch.tensor(T_FR)
    assert float(obj.d_loss(rf, fr)) == pytest.approx(-np.mean(T_RF - T_FR), rel=1e-12)
    assert float(obj.g_loss(fr, rf)) == pytest.approx(-np.mean(T_FR - T_RF), rel=1e-12)


def tiny_pair(hidden=8):
    torch.manual_seed(0)
    return build_discriminator({"name": "pair", "hidden": hidden,
                                "encoder": {"name": "mlp", "hidden": 6, "layers": 2, "norm": "spectral"}}, (2,))


def test_pair_critic_is_head_of_feature_difference():
    critic = tiny_pair().eval()  # eval: spectral norm weights fixed between calls
    xa, xb = torch.randn(5, 2), torch.randn(5, 2)
    t_ab, t_ba = critic.pair(xa, xb)
    ea, eb = critic.encoder.net(xa), critic.encoder.net(xb)
    assert ea.shape == (5, 6)
    assert torch.allclose(t_ab, critic.head(ea - eb).flatten(), atol=1e-6)
    assert torch.allclose(t_ba, critic.head(eb - ea).flatten(), atol=1e-6)
    swapped = critic.pair(xb, xa)
    assert torch.allclose(swapped[0], t_ba, atol=1e-6) and torch.allclose(swapped[1], t_ab, atol=1e-6)
    assert torch.allclose(critic(xa), critic.head(ea).flatten(), atol=1e-6)


def test_pair_critic_head_is_spectrally_normalised():
    critic = tiny_pair(hidden=32)
    x = torch.randn(16, 2)
    for _ in range(5):  # power iterations converge over a few training-mode calls
        critic.pair(x, x.flip(0))
    critic.eval()
    for layer in (critic.head[0], critic.head[2]):
        sigma = torch.linalg.matrix_norm(layer.weight.detach(), ord=2)
        assert float(sigma) == pytest.approx(1.0, abs=0.02)
    assert critic.head[2].bias is None


def test_turing_objective_uses_pair_critic_and_reaches_g():
    obj = build_objective({"name": "tsgan"})
    critic = tiny_pair()
    G = torch.nn.Linear(2, 2)
    x_real = torch.randn(8, 2)
    x_fake = G(torch.randn(8, 2))
    rf, fr = obj.critic_scores(critic, x_real, x_fake)
    expected = critic.eval().pair(x_real, x_fake)
    assert torch.allclose(rf, expected[0], atol=1e-5) and torch.allclose(fr, expected[1], atol=1e-5)
    obj.g_loss(fr, rf).backward()
    assert G.weight.grad.abs().sum() > 0


def test_plain_critic_gives_relativistic_form():
    """On a plain critic T(x_a, x_b) = C(x_a) - C(x_b): T-SGAN is twice RSGAN's D loss."""
    torch.manual_seed(0)
    critic = build_discriminator({"name": "mlp", "hidden": 8, "layers": 2}, (2,))
    x_real, x_fake = torch.randn(6, 2), torch.randn(6, 2)
    rf, fr = build_objective({"name": "tsgan"}).critic_scores(critic, x_real, x_fake)
    r, f = critic(x_real), critic(x_fake)
    assert torch.allclose(rf, r - f) and torch.allclose(fr, f - r)
    tsgan_d = build_objective({"name": "tsgan"}).d_loss(rf, fr)
    rsgan_d = build_objective({"name": "rsgan"}).d_loss(r, f)
    assert float(tsgan_d.detach()) == pytest.approx(2 * float(rsgan_d.detach()), rel=1e-6)
    twgan_d = build_objective({"name": "twgan"}).d_loss(rf, fr)
    assert float(twgan_d.detach()) == pytest.approx(2 * float((f.mean() - r.mean()).detach()), rel=1e-5, abs=1e-7)


def test_pair_critic_on_images_pools_conv_features():
    torch.manual_seed(0)
    critic = build_discriminator({"name": "pair", "hidden": 16,
                                  "encoder": {"name": "dcgan", "ndf": 4, "norm": "spectral"}}, (1, 16, 16))
    x = torch.randn(3, 1, 16, 16)
    assert critic.features(x).shape == (3, 8)  # ndf * 2^(k-1) channels (k = 2), spatially averaged
    a, b = critic.pair(x, x.flip(0))
    assert a.shape == b.shape == (3,)


def test_pair_critic_config_errors():
    with pytest.raises(ConfigError, match="discriminator.encoder.norm"):
        build_discriminator({"name": "pair", "encoder": {"name": "mlp", "norm": "bogus"}}, (2,))
    with pytest.raises(ConfigError, match="encoder.name"):
        build_discriminator({"name": "pair", "encoder": {"name": "pair"}}, (2,))


def test_tsgan_pair_critic_learns_the_ring_modes():
    """The ring8-tgan preset (pair critic, unnormalised encoder, lr 1e-3): 8/8 modes and 82-91% high quality after
    2000 steps in each of seeds 0-5. (With the spectral-norm encoder and lr 5e-4 it had before, seed 2 ended with
    no mode at all and the others at 49-75%.)"""
    modes = toy_modes(Trainer("ring8-tgan", ["train.log_every=500"]).fit())
    assert modes["modes"] >= 7 and modes["hq_share"] > 0.6, modes


def test_every_registered_discriminator_can_encode():
    from ganscape.models import DISCRIMINATORS
    for name in DISCRIMINATORS.names():
        if name == "pair":
            continue
        shape = (2,) if name in ("mlp", "maxout") else (1, 16, 16)
        critic = build_discriminator({"name": "pair", "hidden": 8, "encoder": {"name": name}}, shape, 10)
        x, y = torch.randn((3,) + shape), torch.arange(3)
        t_ab, t_ba = critic.pair(x, x.flip(0), y, y.flip(0))
        assert t_ab.shape == t_ba.shape == (3,) and torch.isfinite(t_ab).all(), name
