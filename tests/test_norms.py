"""Discriminator normalisations (none | batch | layer | spectral) on the mlp and dcgan critics."""
import pytest
import torch
from torch import nn

from ganscape.config import load_config
from ganscape.models import build_discriminator
from ganscape.registry import ConfigError
from ganscape.training import build_parts
from ganscape.training.schemes import build_scheme

ARCHS = [({"name": "mlp", "hidden": 16, "layers": 2}, (2,)), ({"name": "dcgan", "ndf": 4}, (1, 16, 16))]


def make(arch, shape, norm):
    torch.manual_seed(0)
    return build_discriminator({**arch, "norm": norm}, shape)


def batch(shape, n=6):
    torch.manual_seed(1)
    return torch.randn((n,) + shape)


@pytest.mark.parametrize("arch,shape", ARCHS)
def test_batch_norm_mixes_the_batch(arch, shape):
    D = make(arch, shape, "batch")
    assert any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in D.modules())
    x = batch(shape)
    other = x.clone()
    other[1:] = other[1:] * 3 + 1
    assert not torch.allclose(D(x)[0], D(other)[0])  # sample 0 is scored relative to its batch


@pytest.mark.parametrize("arch,shape", ARCHS)
@pytest.mark.parametrize("norm", ["layer", "none", "spectral"])
def test_per_sample_norms_do_not_mix(arch, shape, norm):
    D = make(arch, shape, norm).eval() if norm == "spectral" else make(arch, shape, norm)
    x = batch(shape)
    other = x.clone()
    other[1:] = other[1:] * 3 + 1
    assert torch.allclose(D(x)[0], D(other)[0], atol=1e-6)
    has_layer_norm = any(isinstance(m, (nn.LayerNorm, nn.GroupNorm)) for m in D.modules())
    assert has_layer_norm == (norm == "layer")


@pytest.mark.parametrize("arch,shape", ARCHS)
def test_layer_norm_normalises_features(arch, shape):
    D = make(arch, shape, "layer")
    norms = [m for m in D.modules() if isinstance(m, (nn.LayerNorm, nn.GroupNorm))]
    seen = []
    norms[0].register_forward_hook(lambda m, i, o: seen.append(i[0]))
    with torch.no_grad():
        for m in norms:  # plain affine so the output is the normalised input
            m.weight.fill_(1)
            m.bias.zero_()
    D(batch(shape))
    h = seen[0].flatten(1)
    expected = (h - h.mean(1, keepdim=True)) / torch.sqrt(h.var(1, unbiased=False, keepdim=True) + norms[0].eps)
    assert torch.allclose(norms[0](seen[0]).flatten(1), expected, atol=1e-5)  # per sample, over (C, H, W)


@pytest.mark.parametrize("arch,shape", ARCHS)
def test_spectral_norm_bounds_every_layer(arch, shape):
    D = make(arch, shape, "spectral")
    x = batch(shape, 8)
    for _ in range(30):  # power iteration (1 per forward) converges over calls
        D(x)
    D.eval()
    layers = [m for m in D.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert layers and all(hasattr(m, "parametrizations") for m in layers)
    for m in layers:
        w = m.weight.detach().reshape(m.weight.shape[0], -1)
        assert float(torch.linalg.matrix_norm(w, ord=2)) == pytest.approx(1.0, abs=0.05)


def test_bad_norm_is_a_config_error():
    with pytest.raises(ConfigError, match="discriminator.norm"):
        load_config({"discriminator": {"name": "mlp", "norm": "group"}})


@pytest.mark.parametrize("norm", ["batch", "layer", "spectral"])
def test_each_norm_trains(norm):
    cfg = load_config({"discriminator": {"name": "mlp", "hidden": 16, "norm": norm},
                       "generator": {"name": "mlp", "hidden": 16}, "train": {"batch_size": 32}})
    run = build_parts(cfg)
    scheme = build_scheme(cfg["scheme"])
    before = [p.detach().clone() for p in run.D.parameters()]
    for _ in range(3):
        out = scheme.step(run, True)
    assert torch.isfinite(out["loss_d"]) and torch.isfinite(out["loss_g"])
    assert any(not torch.equal(a, b) for a, b in zip(before, run.D.parameters()))
