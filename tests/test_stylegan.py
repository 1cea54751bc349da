"""StyleGAN-style generator: shapes, w_avg tracking, truncation, style mixing, noise, learning."""
from __future__ import annotations

import pytest
import torch

from ganscape.analysis import truncation
from ganscape.models import build_generator
from ganscape.registry import ConfigError

SMALL = {"name": "stylegan", "w_dim": 16, "mapping_layers": 2, "fmap_base": 256, "fmap_max": 16}


def make(size=16, **options):
    return build_generator({**SMALL, **options}, (1, size, size), 8, 0)


def test_shapes_and_layer_count_at_every_supported_size():
    for size, layers in ((16, 6), (32, 8), (64, 10)):
        G = make(size)
        assert G.num_layers == layers
        assert G(torch.randn(2, 8)).shape == (2, 1, size, size)
    with pytest.raises(ConfigError, match="16, 32, 64"):
        make(24)
    with pytest.raises(ConfigError, match="mixing_prob"):
        make(mixing_prob=1.5)


def test_w_avg_is_an_exponential_moving_average_of_w():
    G = make(mixing_prob=0.0).train()
    z1, z2 = torch.randn(4, 8), torch.randn(4, 8)
    G(z1)
    G(z2)
    with torch.no_grad():
        m1, m2 = G.mapping(z1).mean(0), G.mapping(z2).mean(0)
    expected = (m1 * (1 - 0.995)) * 0.995 + m2 * (1 - 0.995)  # lerp(mean w, w_avg, 0.995), w_avg from 0
    assert torch.allclose(G.w_avg, expected, atol=1e-6)
    G.eval()
    before = G.w_avg.clone()
    G(z1)
    assert torch.equal(G.w_avg, before)  # eval mode does not track


def test_truncation_psi_zero_collapses_to_average_and_one_is_identity():
    G = make(truncation_cutoff=100).eval()
    G.w_avg.normal_()
    z = torch.randn(3, 8)
    torch.manual_seed(1)
    plain = G(z)
    with truncation(G, 0.0):
        torch.manual_seed(1)
        collapsed = G(z)
    with truncation(G, 1.0):
        torch.manual_seed(1)
        same = G(z)
    assert torch.equal(plain, same)
    # noise strengths start at zero, so with psi 0 every latent gives the same image
    assert torch.allclose(collapsed[0], collapsed[1], atol=1e-5) and torch.allclose(collapsed[0], collapsed[2], atol=1e-5)
    assert not torch.allclose(plain[0], plain[1], atol=1e-3)
    ws = torch.randn(2, G.num_layers, 16)
    truncated = G.truncate(ws, 0.7, cutoff=2)
    assert torch.allclose(truncated[:, :2], G.w_avg + 0.7 * (ws[:, :2] - G.w_avg))
    assert torch.equal(truncated[:, 2:], ws[:, 2:])
    with pytest.raises(ConfigError, match="stylegan"):
        with truncation(build_generator({"name": "dcgan", "ngf": 8}, (1, 16, 16), 8), 0.7):
            pass


def test_style_mixing_takes_the_rolled_latents_w_from_a_cutoff_on():
    G = make(mixing_prob=1.0).train()
    seen = {}
    G.synthesis = lambda ws, noise=None: seen.setdefault("ws", ws)
    z = torch.randn(4, 8)
    G(z)
    ws = seen["ws"]
    with torch.no_grad():
        w1, w2 = G.mapping(z), G.mapping(z.roll(1, dims=0))
    own = torch.isclose(ws, w1[:, None].expand_as(ws)).all(dim=(0, 2))
    other = torch.isclose(ws, w2[:, None].expand_as(ws)).all(dim=(0, 2))
    cutoff = int(own.long().argmin())
    assert 1 <= cutoff < G.num_layers
    assert own[:cutoff].all() and other[cutoff:].all()
    G.mixing_prob = 0.0
    seen.clear()
    G(z)
    assert torch.isclose(seen["ws"], w1[:, None].expand_as(seen["ws"])).all()


def test_noise_has_learned_per_channel_scale_and_changes_output():
    G = make().eval()
    layer = G.layers[1]
    assert layer.noise_strength.shape == (16,) and torch.all(layer.noise_strength == 0)
    z = torch.randn(2, 8)
    torch.manual_seed(0)
    a = G(z)
    torch.manual_seed(1)
    assert torch.equal(a, G(z))  # zero noise strength: noise has no effect yet
    with torch.no_grad():
        layer.noise_strength.fill_(1.0)
    torch.manual_seed(0)
    b = G(z)
    torch.manual_seed(1)
    assert not torch.allclose(b, G(z))


def nearest_real_distance(x, real):
    return torch.cdist(x.flatten(1), real.flatten(1)).min(dim=1).values.mean().item()


def test_stylegan_learns_digits(tmp_path):
    """A short run moves samples much closer to the real digits than at initialisation."""
    from ganscape.config import load_config
    from ganscape.data import build_dataset
    from ganscape.loading import load_generator
    from ganscape.training import train

    cfg = load_config("stylegan-digits", ["device=cpu", "train.steps=150", "train.batch_size=32", "train.ema_decay=0.0",
                                          "train.sample_every=0", "train.log_every=50",
                                          "generator.w_dim=32", "generator.fmap_max=32", "discriminator.ndf=16",
                                          "train.checkpoint_every=150"])
    run = train(cfg, tmp_path / "run", show_progress=False).parts
    real = build_dataset({"name": "digits", "size": 16}).x
    init = build_generator(cfg["generator"], (1, 16, 16), 64, 0).eval()
    with torch.no_grad():
        before = nearest_real_distance(init(torch.randn(200, 64)), real)
    after = nearest_real_distance(load_generator(tmp_path / "run", device="cpu").sample(200, seed=3), real)
    assert after < 0.6 * before, (before, after)
    assert run.G.w_avg.abs().sum() > 0
