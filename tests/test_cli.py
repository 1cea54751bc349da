"""The command line: train, resume, sample, presets, components, and its error paths."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ganscape.cli import main
from ganscape.config import read_yaml

TINY_DIGITS = ["data.size=16", "train.steps=8", "train.batch_size=16", "train.log_every=2",
               "train.checkpoint_every=4", "train.sample_every=4", "generator.ngf=8", "discriminator.ndf=8"]


def test_train_sample_and_resume_on_digits(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "dcgan-digits", *TINY_DIGITS, "--out", str(run), "--no-progress"]) == 0
    config = read_yaml(run / "config.yaml")
    assert config["data"] == {"name": "digits", "size": 16} and config["train"]["steps"] == 8
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6, 8]
    for row in rows:
        assert {"loss_d", "loss_g", "grad_norm_d", "grad_norm_g", "time"} <= set(row)
        assert np.isfinite(row["loss_d"]) and np.isfinite(row["loss_g"])
    assert (run / "loss_curves.png").exists() and (run / "samples" / "step-00000008.png").exists()

    grid = tmp_path / "grid.png"
    assert main(["sample", str(run), "--n", "10", "--checkpoint", "4", "--out", str(grid)]) == 0
    with Image.open(grid) as img:
        assert img.size == (4 * 18 + 2, 3 * 18 + 2)  # 10 images of 16 px, 4 per row, 2 px padding

    # running again with a longer budget resumes from step 8
    assert main(["train", "dcgan-digits", *TINY_DIGITS, "train.steps=10", "--out", str(run), "--no-progress"]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6, 8, 10]


def test_overrides_may_follow_the_options_in_order(tmp_path, capsys):
    run = tmp_path / "run"
    # argparse alone rejected this order ("unrecognized arguments: data.size=16 ...")
    argv = ["train", "dcgan-digits", "train.steps=4", "--out", str(run), "--no-progress", *TINY_DIGITS]
    assert main(argv) == 0
    config = read_yaml(run / "config.yaml")
    assert config["data"]["size"] == 16 and config["train"]["steps"] == 8  # the later override wins
    with pytest.raises(SystemExit) as exit_:
        main(["train", "dcgan-digits", "--out", str(run), "--bogus", *TINY_DIGITS])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "unrecognized arguments: --bogus (see `ganscape train --help`)" in err, err
    with pytest.raises(SystemExit) as exit_:
        main(["study", "plan", "landscape-toy", "--out", str(tmp_path / "s"), "--bogus"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "error: unrecognized arguments: --bogus (see `ganscape study plan --help`)" in err
    with pytest.raises(SystemExit) as exit_:  # a word without '=' where overrides go: it said only "unrecognized"
        main(["train", "dcgan-digits", "--out", str(run), "steps100"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "unrecognized arguments: steps100; a config override is KEY=VALUE" in err, err


def test_different_config_on_existing_run_is_an_error(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "dcgan-digits", *TINY_DIGITS, "--out", str(run), "--no-progress"]) == 0
    before = (run / "config.yaml").read_text()
    assert main(["train", "dcgan-digits", *TINY_DIGITS, "loss.name=hinge", "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert "loss.name: 'nonsaturating' -> 'hinge'" in err and "new --out" in err
    assert (run / "config.yaml").read_text() == before


def test_sample_errors(tmp_path, capsys):
    assert main(["sample", str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2
    assert "not a run folder" in capsys.readouterr().err
    run = tmp_path / "run"
    main(["train", "dcgan-digits", *TINY_DIGITS, "--out", str(run), "--no-progress"])
    assert main(["sample", str(run), "--checkpoint", "5", "--out", str(tmp_path / "x.png")]) == 2
    assert "available: 4, 8" in capsys.readouterr().err


def test_toy_samples_are_drawn_as_a_scatter_plot(tmp_path):
    run = tmp_path / "toy"
    assert main(["train", "ring8", "train.steps=20", "train.log_every=10", "train.checkpoint_every=10",
                 "--out", str(run), "--no-progress"]) == 0
    out = tmp_path / "scatter.png"
    assert main(["sample", str(run), "--n", "500", "--out", str(out)]) == 0
    with Image.open(out) as img:
        assert img.size[0] > 200 and img.size[1] > 200


def test_bad_override_exits_with_message(tmp_path, capsys):
    assert main(["train", "ring8", "loss.name=nope", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "loss.name: unknown objective 'nope'" in err and "hinge" in err
    assert not (tmp_path / "r").exists()


def test_presets_and_components_list_everything(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "ring8" in out and "dcgan-digits" in out
    assert main(["components", "--verbose"]) == 0
    out = capsys.readouterr().out
    for name in ("ring8", "grid25", "digits", "mnist", "npz", "image_folder", "dcgan", "mlp", "minimax",
                 "nonsaturating", "wgan", "least_squares", "hinge", "wgan_gp", "gaussian", "uniform"):
        assert f"  {name} " in out, name
    assert "ngf = 64" in out


def test_console_script_is_declared():
    import tomllib
    from pathlib import Path
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["ganscape"] == "ganscape.cli:program"
    with pytest.raises(SystemExit):
        main(["--help"])


def test_commands_say_in_one_line_when_they_do_not_apply_to_a_run(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "dcgan-digits", *TINY_DIGITS, "--out", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["style-mix", str(run), "--out", str(tmp_path / "m.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "style-mix: needs a StyleGAN generator (generator.name=stylegan)" in err[0]
    assert "'dcgan'" in err[0] and not (tmp_path / "m.png").exists()
    assert main(["translate", str(run), "--input", str(tmp_path), "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "translate: needs a translation run" in err[0] and "this is a gan run" in err[0]


def test_help_shows_every_option_with_its_default(capsys):
    """Defaults such as sample --n 64 and --seed 0 were not shown, and --device, --seed, --backend had no help."""
    import argparse

    from ganscape.cli import build_parser

    def parsers(parser: argparse.ArgumentParser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from parsers(child)

    undocumented = [f"{p.prog} {a.option_strings[0]}" for p in parsers(build_parser()) for a in p._actions
                    if a.option_strings and not a.help]
    assert undocumented == []
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "number of samples (default: 64)" in text and "seed of the latents and labels (default: 0)" in text
    assert "(default: None)" not in text and "(default: False)" not in text


def test_a_terminated_export_leaves_no_temporary_file(tmp_path):
    """SIGTERM (``timeout``, a scheduler) killed ``sample`` without its clean-up: a hidden ``.x.npz.*.tmp`` (or a
    temporary folder of PNGs, gigabytes for 50k samples) stayed behind. It now stops as Ctrl-C does."""
    import os
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    assert main(["train", "dcgan-digits", *TINY_DIGITS, "--out", str(run), "--no-progress"]) == 0
    for name, out in (("x.npz", f"{tmp_path}/x.npz"), ("pngs", f"{tmp_path}/pngs/")):
        proc = subprocess.Popen([sys.executable, "-m", "ganscape", "sample", str(run), "--n", "2000000", "--batch",
                                 "50", "--out", out], stderr=subprocess.PIPE, text=True, env={**os.environ})
        deadline = time.time() + 120
        while not list(tmp_path.glob(f".{name}.*.tmp")) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert list(tmp_path.glob(f".{name}.*.tmp")), proc.stderr.read() if proc.poll() is not None else "no temp"
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 130
        assert "interrupted; run the same command again to start it over" in proc.stderr.read()  # no "resume"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.parametrize("argv, module, func, again", [
    (["train", "ring8", "--out", "RUN"], "train", "run",
     "start it over (it was stopped before its first checkpoint; see train.checkpoint_every)"),  # RUN holds none
    (["study", "run", "STUDY", "--all"], "study", "run_run", "resume"),
    (["data", "prepare", "cifar10", "--from", "x.tar.gz"], "data", "run_prepare", "start it over"),
    (["eval", "RUN"], "eval", "run", "start it over")])
def test_an_interrupted_command_says_whether_running_it_again_resumes(argv, module, func, again, monkeypatch, capsys):
    """Ctrl-C told every command's user that running it again resumes, data preparation included, which starts
    over."""
    import importlib

    def stopped(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(importlib.import_module(f"ganscape.cli.{module}"), func, stopped)
    assert main(argv) == 130
    assert capsys.readouterr().err.strip() == f"ganscape: interrupted; run the same command again to {again}"


def test_an_interrupt_while_starting_is_one_line(monkeypatch, capsys):
    """Ctrl-C or SIGTERM during start-up (importing torch and the user's plugins takes seconds) printed a traceback
    from inside the imports; it is one line and status 130, as an interrupted command's."""
    import ganscape.plugins

    def slow_imports():
        raise KeyboardInterrupt
    monkeypatch.setattr(ganscape.plugins, "import_plugins", slow_imports)
    assert main(["presets"]) == 130
    assert capsys.readouterr().err.strip() == "ganscape: interrupted before the command started"


def test_ctrl_c_says_whether_the_run_resumes_or_starts_over(tmp_path, monkeypatch, capsys):
    """A run stopped before its first checkpoint was told "run the same command again to resume", and the same command
    started it over without a word."""
    import ganscape.training

    command = ["train", "ring8", "train.steps=2", "train.checkpoint_every=2", "generator.hidden=8",
               "discriminator.hidden=8", "--no-progress", "--out", str(tmp_path / "run")]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    with monkeypatch.context() as patch:
        patch.setattr(ganscape.training, "train", interrupted)
        assert main(command) == 130
        assert "interrupted; run the same command again to start it over (it was stopped before its first " \
               "checkpoint" in capsys.readouterr().err
    assert main(command) == 0
    monkeypatch.setattr(ganscape.training, "train", interrupted)
    assert main(command) == 130
    assert "interrupted; run the same command again to resume from its newest checkpoint" in capsys.readouterr().err
