"""Latent interpolation (linear, slerp) and style-mixing grids, and their commands."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from ganscape.analysis import interpolation_grid, lerp, slerp, style_mix_grid
from ganscape.analysis.interpolation import interpolate
from ganscape.analysis.truncation import truncation
from ganscape.registry import ConfigError



def test_slerp_matches_the_great_circle_formula():
    a, b = torch.randn(7, dtype=torch.float64), torch.randn(7, dtype=torch.float64)
    t = torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=torch.float64)
    an, bn = a.numpy(), b.numpy()
    omega = np.arccos(an @ bn / (np.linalg.norm(an) * np.linalg.norm(bn)))
    expected = [np.sin((1 - s) * omega) / np.sin(omega) * an + np.sin(s * omega) / np.sin(omega) * bn for s in t.numpy()]
    assert np.allclose(slerp(a, b, t).numpy(), np.stack(expected))
    assert torch.allclose(slerp(a, b, t)[[0, -1]], torch.stack([a, b]))
    unit_a, unit_b = a / a.norm(), b / b.norm()
    assert torch.allclose(slerp(unit_a, unit_b, t).norm(dim=1), torch.ones(4, dtype=torch.float64))
    assert torch.allclose(lerp(a, b, t)[2], (a + b) / 2)
    assert torch.allclose(slerp(a, 2 * a, t), lerp(a, 2 * a, t))  # parallel: falls back to lerp
    with pytest.raises(ConfigError, match="--mode"):
        interpolate(a[None], b[None], 4, "cubic")


@pytest.fixture(scope="module")
def style_run(tmp_path_factory):
    from ganscape.config import load_config
    from ganscape.training import train

    run_dir = tmp_path_factory.mktemp("style") / "run"
    cfg = load_config("stylegan-digits", ["device=cpu", "train.steps=2", "train.batch_size=8", "train.sample_every=0",
                                          "train.checkpoint_every=2", "generator.w_dim=8", "generator.fmap_max=8",
                                          "generator.mapping_layers=2", "discriminator.ndf=8"])
    train(cfg, run_dir, show_progress=False)
    return run_dir


def test_interpolation_grid_rows_start_and_end_at_their_latents(style_run):
    from ganscape.loading import load_generator

    gen = load_generator(style_run, device="cpu")
    for layer in gen.G.layers:  # deterministic images: switch per-layer noise off
        layer.noise_strength.data.zero_()
    images = interpolation_grid(gen, rows=2, steps=5, mode="slerp", seed=4)
    assert images.shape == (10, 1, 16, 16)
    torch.manual_seed(4)
    ends = gen.prior.sample(4, gen.device)
    assert torch.allclose(images[0], gen.decode(ends[:1])[0], atol=1e-5)
    assert torch.allclose(images[9], gen.decode(ends[3:4])[0], atol=1e-5)
    with pytest.raises(ConfigError, match="unconditional"):
        interpolation_grid(gen, label=3)


def test_style_mix_cells_take_coarse_layers_from_the_column(style_run):
    from ganscape.loading import load_generator

    gen = load_generator(style_run, device="cpu")
    G = gen.G
    for layer in G.layers:
        layer.noise_strength.data.zero_()
    grid = style_mix_grid(gen, rows=2, cols=3, seed_rows=5, seed_cols=6, cutoff=2)
    assert grid.shape == (12, 1, 16, 16)
    assert torch.all(grid[0] == -1)  # blank corner
    torch.manual_seed(5)
    w_a = G.mapping(gen.prior.sample(2, gen.device))
    torch.manual_seed(6)
    w_b = G.mapping(gen.prior.sample(3, gen.device))
    ws = w_a[1][None, None].repeat(1, G.num_layers, 1)
    ws[:, :2] = w_b[2]
    with torch.no_grad():
        assert torch.allclose(grid[2 * 4 + 3], G.synthesis(ws)[0], atol=1e-5)  # row 1, column 2
        assert torch.allclose(grid[3], G.synthesis(w_b[2][None, None].repeat(1, G.num_layers, 1))[0], atol=1e-5)
    with pytest.raises(ConfigError, match="--cutoff"):
        style_mix_grid(gen, cutoff=G.num_layers)
    for psi in (-1.0, math.nan, math.inf):  # was drawn as a grid (NaN: a blank one), as sample refuses it
        with pytest.raises(ConfigError, match="--truncation: must be a finite number >= 0"):
            style_mix_grid(gen, psi=psi)
    with pytest.raises(ConfigError, match="--truncation: must be a finite number >= 0"):
        with truncation(G, math.nan):
            pass


def noisy_generator(style_run):
    """The run's generator with noise strengths of 1, as a trained one has (0 at initialisation: noise would not
    show)."""
    from ganscape.loading import load_generator

    gen = load_generator(style_run, device="cpu")
    for layer in gen.G.layers:
        layer.noise_strength.data.fill_(1.0)
    return gen


def test_noise_inputs_belong_to_the_image_not_to_the_batch_or_the_call(style_run):
    """StyleGAN noise was drawn afresh by every call: --batch changed the samples, a style-mix cell of a latent with
    itself differed from its sources, and interpolation frames flickered."""
    gen = noisy_generator(style_run)
    whole = gen.sample(16, seed=3, batch=16)
    assert torch.allclose(gen.sample(16, seed=3, batch=5), whole, atol=1e-5)  # up to the batched convs' rounding
    assert torch.allclose(gen.sample(8, seed=3), whole[:8], atol=1e-5)
    assert not torch.allclose(gen.sample(16, seed=4), whole, atol=1e-2)
    grid = style_mix_grid(gen, rows=1, cols=1, seed_rows=7, seed_cols=7)  # corner, B_0, A_0, mix(A_0, B_0)
    assert torch.allclose(grid[1], grid[2], atol=1e-5) and torch.allclose(grid[3], grid[2], atol=1e-5)
    z = gen.prior.sample(1).repeat(3, 1)
    frames = gen.decode(z, noise_seed=4)  # frames of one latent: identical
    assert torch.allclose(frames[0], frames[1], atol=1e-6) and torch.allclose(frames[0], frames[2], atol=1e-6)
    images = interpolation_grid(gen, rows=2, steps=3, seed=4)
    torch.manual_seed(4)
    ends = gen.prior.sample(4, gen.device)
    assert torch.allclose(images[2], gen.decode(ends[2:3], noise_seed=4)[0], atol=1e-5)


def test_commands_write_grids(style_run, tmp_path):
    from ganscape.cli import main

    assert main(["interpolate", str(style_run), "--out", str(tmp_path / "i.png"), "--rows", "2", "--steps", "3",
                 "--mode", "linear", "--device", "cpu"]) == 0
    assert Image.open(tmp_path / "i.png").size == (3 * 18 + 2, 2 * 18 + 2)
    assert main(["style-mix", str(style_run), "--out", str(tmp_path / "m.png"), "--rows", "2", "--cols", "3",
                 "--device", "cpu"]) == 0
    assert Image.open(tmp_path / "m.png").size == (4 * 18 + 2, 3 * 18 + 2)
    assert main(["sample", str(style_run), "--truncation", "0.7", "--n", "4", "--out", str(tmp_path / "t.png"),
                 "--device", "cpu"]) == 0
    assert main(["sample", str(style_run), "--class", "1", "--out", str(tmp_path / "x.png")]) == 2


def test_auto_interpolation_walks_slerp_for_a_gaussian_prior_and_linear_for_others():
    """slerp was the default for every prior: between two latents of a 64-d uniform prior its midpoints leave the
    cube [-1, 1]^64."""
    from types import SimpleNamespace

    from ganscape.analysis.interpolation import interpolate, path_mode
    from ganscape.priors import build_prior

    def gen(prior):
        return SimpleNamespace(config={"prior": {"name": prior}})

    assert [path_mode(gen(p), "auto") for p in ("gaussian", "uniform", "deligan")] == ["slerp", "linear", "linear"]
    assert path_mode(gen("uniform"), "slerp") == "slerp"  # asked for: taken
    torch.manual_seed(0)
    ends = build_prior({"name": "uniform", "dim": 64}).sample(400, torch.device("cpu"))
    mid = {mode: interpolate(ends[:200], ends[200:], 3, mode)[1::3] for mode in ("slerp", "linear")}
    assert mid["slerp"].abs().max() > 1 and mid["linear"].abs().max() <= 1
