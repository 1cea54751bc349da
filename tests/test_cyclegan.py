"""CycleGAN as a run kind: image pool, config validation, the learned mapping against the known
ground truth of the synthetic pair, bit-exact resume, and the commands that read its runs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganscape.cli import main
from ganscape.config import load_config
from ganscape.data import build_dataset
from ganscape.registry import ConfigError
from ganscape.training import Trainer, build_parts, train
from ganscape.training.callbacks import eval_mode
from ganscape.translation.pool import ImagePool
from ganscape.utils.io import read_jsonl

TINY = ["device=cpu", "generator.ngf=4", "generator.n_blocks=1", "discriminator.ndf=4", "train.batch_size=4",
        "train.log_every=1", "train.sample_every=0"]


def test_pool_fills_then_swaps_half_the_time():
    pool = ImagePool(4)
    first = torch.arange(4.0).reshape(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: returned as is
    torch.manual_seed(0)
    new = -1.0 - torch.arange(400.0).reshape(400, 1, 1, 1)
    out = pool.query(new)
    from_pool = (out != new).float().mean().item()
    assert 0.4 < from_pool < 0.6
    assert len(pool.images) == 4
    assert torch.equal(ImagePool(0).query(new[:3]), new[:3])
    state = pool.state_dict()
    other = ImagePool(4)
    other.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(pool.images, other.images))


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="loss.lambda_cycle"):
        build_parts(load_config("cyclegan-digits", ["loss.lambda_cycle=-1"]))
    with pytest.raises(ConfigError, match="generator.n_down"):
        build_parts(load_config("cyclegan-digits", ["device=cpu", "data.size=10", "data_b.size=10"]))
    with pytest.raises(ConfigError, match="unknown key"):
        load_config("cyclegan-digits", ["colour=1"])
    with pytest.raises(ConfigError, match="presets: .*cyclegan-digits"):
        load_config("no-such-preset")


def correlation(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image Pearson correlation of (N, C, H, W) images."""
    x = x.flatten(1) - x.flatten(1).mean(1, keepdim=True)
    y = y.flatten(1) - y.flatten(1).mean(1, keepdim=True)
    return (x * y).sum(1) / (x.norm(dim=1) * y.norm(dim=1) + 1e-8)


def test_learned_mapping_approaches_the_known_ground_truth():
    """Digits -> inverted digits: in [-1, 1] the true mapping is x -> -x. Measured over 257 digits
    after 60 steps: correlation with -x 0.65 (0 at initialisation), mean absolute error 0.37 (0.73)."""
    trainer = Trainer("cyclegan-digits", ["device=cpu", "train.log_every=20"])
    a = trainer.parts.data_a.get(torch.arange(0, 1797, 7))[0]

    def mapped() -> torch.Tensor:
        with eval_mode([trainer.parts.G_ab]), torch.no_grad():
            return trainer.parts.G_ab(a)

    before = (mapped() + a).abs().mean()
    result = trainer.fit(60)
    after = mapped()
    assert correlation(after, -a).mean() > 0.5 and (after + a).abs().mean() < 0.7 * before
    cycle = [row["loss_cycle"] for row in result.history]
    assert cycle[-1] < 0.8 * cycle[0]  # measured 0.90 at step 20, 0.60 at step 60


def test_resume_is_bit_exact(tmp_path):
    cfg = load_config("cyclegan-digits", TINY + ["train.steps=6", "train.checkpoint_every=3", "loss.pool_size=2"])
    full = train(cfg, tmp_path / "full", show_progress=False)
    train(cfg, tmp_path / "part", show_progress=False, stop_at=3)
    resumed = train(cfg, tmp_path / "part", show_progress=False)
    for name, module in full.parts.modules().items():
        for a, b in zip(module.state_dict().values(), resumed.parts.modules()[name].state_dict().values()):
            assert torch.equal(a, b), name
    def without_clocks(run: str) -> list[dict]:
        return [{k: v for k, v in row.items() if k not in ("time", "train_seconds")}
                for row in read_jsonl(tmp_path / run / "metrics.jsonl")]
    assert without_clocks("full") == without_clocks("part")


@pytest.fixture(scope="module")
def cycle_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cyc") / "run"
    train(load_config("cyclegan-digits", TINY + ["train.steps=2", "train.checkpoint_every=2"]), run,
          show_progress=False)
    return run


def test_translate_cli_writes_one_image_per_input(cycle_run, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray((torch.rand(20, 24) * 255).byte().numpy()).save(src / f"im{i}.png")
    (src / "notes.txt").write_text("not an image")
    (src / "._im0.png").write_bytes(b"\0\5\26\7 AppleDouble")  # macOS metadata and a folder of an image's name:
    (src / "folder.png").mkdir()                                  # each failed the whole command
    assert main(["translate", str(cycle_run), "--input", str(src), "--out", str(tmp_path / "out"),
                 "--direction", "b2a", "--device", "cpu"]) == 0
    outs = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert outs == ["im0.png", "im1.png", "im2.png"]
    assert Image.open(tmp_path / "out" / "im0.png").size == (16, 16)
    assert main(["translate", str(cycle_run), "--input", str(tmp_path / "nowhere"), "--out",
                 str(tmp_path / "o2")]) == 2
    assert main(["translate", str(cycle_run), "--input", "", "--out", str(tmp_path / "o3")]) == 2  # was the cwd
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()


def test_translate_never_overwrites_or_merges_images(cycle_run, tmp_path, capsys):
    """--out must be a new or empty folder (not the input, not a file), and two inputs with one stem are refused:
    each was silently overwritten before; every refusal is one usage line and leaves the files as they were."""
    src = tmp_path / "in"
    src.mkdir()
    for name in ("x.png", "x.jpg"):
        Image.fromarray((torch.rand(20, 20) * 255).byte().numpy()).save(src / name)
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    (tmp_path / "afile").write_text("keep")
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "empty")  # was taken, then failed after the work with exit 1
    for out, message in [(src, "is a folder that is not empty"), (tmp_path / "afile", "exists and is not a folder"),
                         (tmp_path / "new", "x.jpg, x.png would all be written as the same PNG"),
                         (tmp_path / "link", "is a symbolic link; name a real new or empty folder")]:
        try:
            code = main(["translate", str(cycle_run), "--input", str(src), "--out", str(out), "--device", "cpu"])
        except SystemExit as usage_error:  # argparse refuses a bad --out before the run is opened
            code = usage_error.code
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and message in err[0], (out, err)
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before
    assert (tmp_path / "afile").read_text() == "keep" and not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "empty", "in", "link"]
    assert list((tmp_path / "empty").iterdir()) == []


def test_the_preview_rows_are_one_width_when_a_domain_has_fewer_images(tmp_path):
    """Rows a, G_ab(a), G_ba(G_ab(a)) held 5 images and the b rows 8, in rows of 5: the b rows wrapped."""
    images = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 1)).astype(np.uint8)
    np.savez(tmp_path / "a5.npz", x=images)
    trainer = Trainer(load_config("cyclegan-digits", TINY + ["train.steps=1", "train.batch_size=2",
                                                            f"data={{name: npz, path: {tmp_path / 'a5.npz'}}}"]))
    preview = trainer.parts.preview(trainer.sampling_modules())
    assert preview.nrow == 5 and len(preview.samples) == 6 * 5


def test_sample_and_eval_work_on_a_translation_run(cycle_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GANSCAPE_CACHE", str(tmp_path / "cache"))
    from ganscape.features import lenet
    monkeypatch.setitem(lenet.RECIPE, "steps", 60)
    assert main(["sample", str(cycle_run), "--n", "8", "--out", str(tmp_path / "s.png")]) == 0
    assert Image.open(tmp_path / "s.png").size == (3 * 18 + 2, 3 * 18 + 2)
    assert main(["eval", str(cycle_run), "--n", "100", "--metrics", "fid"]) == 0
    assert "fid100_lenet-digits-invert" in capsys.readouterr().out  # the classifier of the target domain
    assert main(["style-mix", str(cycle_run), "--out", str(tmp_path / "m.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs a generator with a latent prior; this is a translation run" in err[0]


def test_translation_samples_stream_in_batches(cycle_run):
    """sample --batch read and translated every source image at once, so a large --n did not fit in memory."""
    from ganscape.loading import load_sampler

    sampler = load_sampler(cycle_run, device="cpu")
    chunks = list(sampler.stream(10, seed=1, batch=4))
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert torch.allclose(torch.cat(chunks), sampler.sample(10, seed=1, batch=10), atol=1e-6)


def test_translate_applies_the_training_preprocessing_and_the_learned_mapping(tmp_path):
    """PNG files of domain-A digits, translated by the command, equal the run's translator applied to the same
    digits in memory (up to 8-bit rounding), and follow the pair's known mapping x -> -x."""
    from ganscape.loading import load_sampler

    run = tmp_path / "run"
    train(load_config("cyclegan-digits", ["device=cpu", "train.steps=60", "train.checkpoint_every=60",
                                          "train.sample_every=0"]), run, show_progress=False)
    sampler = load_sampler(run, device="cpu")
    digits = build_dataset({"name": "digits", "size": 16}).get(torch.arange(0, 1797, 60))[0]
    rounded = (((digits + 1) * 127.5).round() / 127.5 - 1).clamp(-1, 1)   # what a PNG file holds
    src = tmp_path / "in"
    src.mkdir()
    for i, image in enumerate(rounded):
        Image.fromarray(((image[0] + 1) * 127.5).round().byte().numpy()).save(src / f"{i:03d}.png")
    assert main(["translate", str(run), "--input", str(src), "--out", str(tmp_path / "out"), "--device", "cpu"]) == 0
    files = sorted((tmp_path / "out").iterdir())
    written = torch.stack([torch.from_numpy(np.asarray(Image.open(f), dtype=np.float32)) for f in files])[:, None] / 127.5 - 1
    expected = sampler.translate(rounded)
    assert (written - expected.clamp(-1, 1)).abs().max() <= 1.0 / 127.5 + 1e-6
    assert correlation(written, -rounded).mean() > 0.5


def test_refusals_on_a_translation_run_name_the_option_and_command_typed_and_leave_no_folder(cycle_run, tmp_path,
                                                                                                capsys):
    """--attr was blamed on --class, intervene's refusal on dissect, and a refused sample into a new folder left
    that folder (empty) behind."""
    out = tmp_path / "new" / "sub" / "x.npz"
    for argv, message in [(["sample", str(cycle_run), "--attr", "Smiling=1", "--out", str(out)],
                           "--attr: a translation run takes no class or attribute labels"),
                          (["sample", str(cycle_run), "--class", "3", "--out", str(out)],
                           "--class: a translation run takes no class or attribute labels"),
                          (["intervene", str(cycle_run), "--layer", "x", "--concept", "tree", "--out",
                            str(tmp_path / "iv")], "intervene: this is a translation run"),
                          (["sample", str(cycle_run), "--attr", "Smiling=1,Smiling=0", "--out", str(out)],
                           "--attr: Smiling is given twice")]:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
