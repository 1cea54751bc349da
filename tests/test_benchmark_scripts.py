"""The reproduction benchmark runs end to end on a tiny budget: every toy method's config builds and trains, and
the table has one scored row per dataset and method (the numbers themselves are for docs/results.md, not tests)."""
import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
ROW = re.compile(r"^\| (grid25|ring8) \| ([\w+-]+) \|.*\| ([\d.]+) \+- [\d.]+ / (25|8) \|")
QUICK_SCORING = ("--stacked-samples", "2600")  # a tenth of the protocol's 26,000: these tests check the table, not counts


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARKS / "reproduce.py"), *args], cwd=BENCHMARKS,
                          capture_output=True, text=True, timeout=600)


def test_reproduce_toy_table_has_a_row_per_method_and_dataset():
    methods = ["NS", "PacGAN2", "WGAN-GP", "WGAN-clip", "T-SGAN", "E-GAN", "NS+DeLiGAN"]
    done = run_script("--only", "toy", "--seeds", "1", "--steps", "20", "--jobs", "1", "--methods", *methods)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [ROW.match(line) for line in done.stdout.splitlines()]
    found = {(m.group(1), m.group(2)) for m in rows if m}
    assert found == {(d, m) for d in ("grid25", "ring8") for m in methods}, done.stdout
    assert "Toy mixtures: 20 steps, 1 seed," in done.stdout
    assert "] grid25 PacGAN2 seed 0: {'modes': " in done.stderr  # each finished run's progress line names its row
    assert MACHINE.match(done.stdout.splitlines()[0]), done.stdout  # the table says what it was measured on


def test_reproduce_rejects_an_unknown_method():
    done = run_script("--only", "toy", "--methods", "bogus")
    assert done.returncode == 2
    assert "unknown method 'bogus'" in done.stderr and "PacGAN4" in done.stderr


def test_reproduce_runs_one_dataset_at_its_default_batch():
    done = run_script("--only", "toy", "--seeds", "1", "--steps", "5", "--jobs", "1", "--datasets", "grid25",
                      "--methods", "NS")
    assert done.returncode == 0, done.stderr[-2000:]
    found = {(m.group(1), m.group(2)) for m in map(ROW.match, done.stdout.splitlines()) if m}
    assert found == {("grid25", "NS")}, done.stdout
    assert "batch {'grid25': 512}" in done.stdout  # about 20 samples per mode of the 25 (toy_modes.BATCH)
    # the control row: the data's own samples capture every mode, ~98.9% within 3 std (a 2-D Gaussian's mass), KL ~0
    control = next(line for line in done.stdout.splitlines() if line.startswith("| grid25 | (2,500 real samples) |"))
    modes, hq, kl = (cell.split(" +- ")[0] for cell in control.split(" | ")[3:6])
    assert modes == "25.00" and 98.0 < float(hq) < 99.8 and float(kl) < 0.02, control


MACHINE = re.compile(r"^machine: .+, \d+ cores; torch \S+; ganscape \S+ \((\w+(\+changes)?|not a git checkout)\); "
                     r"\d{4}-\d\d-\d\d \d\d:\d\d UTC$")
RUN_LINE = re.compile(r"^ring8 NS seed (\d): (\d+) modes, ([\d.]+)% HQ, reverse KL ([\d.]+|inf), \d+ s$")


def test_toy_modes_prints_each_run_and_the_table_is_their_mean():
    done = subprocess.run([sys.executable, str(BENCHMARKS / "toy_modes.py"), "--steps", "30", "--seeds", "2",
                           "--jobs", "1", "--datasets", "ring8", "--methods", "ns"],
                          cwd=BENCHMARKS, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert MACHINE.match(done.stdout.splitlines()[0]), done.stdout
    runs = [m for m in map(RUN_LINE.match, done.stderr.splitlines()) if m]
    assert sorted(m.group(1) for m in runs) == ["0", "1"], done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("| ring8 | NS |"))
    modes = sum(int(m.group(2)) for m in runs) / 2
    assert row.split(" | ")[2].startswith(f"{modes:.2f} +- "), (row, done.stderr)


def test_reproduce_overrides_come_after_each_rows_own_settings(monkeypatch):
    """``--set`` / ``--stacked-set`` reach every run's config after the row's overrides (a packed row still multiplies
    the overridden batch by its pack), and the table's header names them."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from reproduce import stacked_config, toy_config

    toy = toy_config("grid25", "PacGAN2", 3, False, None, ["train.batch_size=100", "loss.name=hinge"])
    assert (toy["train"]["batch_size"], toy["loss"]["name"], toy["seed"]) == (200, "hinge", 3)
    assert toy["train"]["steps"] == 10_000
    stacked = stacked_config("PacDCGAN2", 1, False, 7, "/no/mnist/here", ["data.size=28", "scheme.g_steps=3",
                                                                        "prior={name: gaussian, dim: 64}"])
    assert stacked["data"] == {"name": "stacked_digits", "size": 28, "seed": 1}
    assert stacked["discriminator"]["pack"] == 2 and stacked["scheme"]["g_steps"] == 3
    assert stacked["prior"] == {"name": "gaussian", "dim": 64} and stacked["train"]["steps"] == 7
    done = run_script("--only", "stacked", "--stacked-seeds", "1", "--stacked-steps", "2", "--jobs", "1",
                      "--mnist-root", "/no/mnist/here", "--stacked-set", "scheme.g_steps=2", *QUICK_SCORING)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "overrides: scheme.g_steps=2" in done.stdout and "| PacDCGAN2 |" in done.stdout, done.stdout


def test_device_cuda_trains_every_run_in_float32_and_cpu_configs_stay_as_they_were(monkeypatch):
    """``--device cuda`` pins float32 NCHW (the published protocols' precision, whatever the automatic setting), a
    row's ``--set`` still overrides it; ``--device cpu`` (the default) changes nothing in a config, so run folders of
    earlier commands resume."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from reproduce import stacked_config, toy_config

    for config in (toy_config("ring8", "WGAN-GP", 0, False, None, device="cuda"),
                   toy_config("grid25", "NS", 0, True, None, device="cuda"),
                   stacked_config("PacDCGAN2, D = G/4", 0, False, None, "/no/mnist/here", device="cuda")):
        assert config["device"] == "cuda"
        assert (config["train"]["precision"], config["train"]["channels_last"]) == ("fp32", False)
    cpu = toy_config("ring8", "WGAN-GP", 0, False, None)
    assert cpu["device"] == "cpu" and (cpu["train"]["precision"], cpu["train"]["channels_last"]) == ("auto", "auto")
    assert toy_config("ring8", "NS", 0, False, None, ["train.precision=bf16"], device="cuda")["train"]["precision"] \
        == "bf16"
    done = run_script("--only", "toy", "--device", "tpu")
    assert done.returncode == 2 and "--device: invalid choice: 'tpu'" in done.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for a machine without a GPU")
def test_device_cuda_without_a_gpu_is_one_usage_error_before_any_run():
    """It was a worker's 48-line traceback (ConfigError inside a multiprocessing pool)."""
    done = run_script("--device", "cuda", "--only", "toy", "--methods", "NS", "--seeds", "1", "--steps", "10")
    assert done.returncode == 2 and done.stdout == "", done.stderr[-2000:]
    assert "--device: cuda, but no CUDA device is available here; use --device cpu" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_override_is_one_usage_error_before_any_run():
    """A bad ``--set`` / ``--stacked-set`` value is refused up front (exit 2, one error line naming it), not raised as
    a worker's traceback after other runs trained."""
    toy = run_script("--only", "toy", "--methods", "NS", "--set", "bogus.key=1")
    stacked = run_script("--only", "stacked", "--stacked-set", "notkeyvalue")
    modes = subprocess.run([sys.executable, str(BENCHMARKS / "toy_modes.py"), "--methods", "ns",
                            "--set", "bogus.key=1"], cwd=BENCHMARKS, capture_output=True, text=True, timeout=600)
    for done, message in [(toy, "bogus: unknown key"), (stacked, "override 'notkeyvalue' is not key=value"),
                          (modes, "bogus: unknown key")]:
        assert done.returncode == 2 and done.stdout == "", done.stderr[-2000:]
        assert message in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize("script, args, message", [
    ("reproduce", ["--jobs", "0"], "argument --jobs: expected a whole number >= 1, got 0"),
    ("reproduce", ["--threads", "0"], "argument --threads: expected a whole number >= 1, got 0"),
    ("reproduce", ["--steps", "0"], "argument --steps: expected a whole number >= 1, got 0"),  # was ignored: 10k
    ("reproduce", ["--stacked-steps", "-1"], "argument --stacked-steps: expected a whole number >= 1, got -1"),
    ("reproduce", ["--checkpoint-every", "x"], "argument --checkpoint-every: expected a whole number, got 'x'"),
    ("reproduce", ["--out", "README.md"], "--out: README.md is a file; give a folder"),
    ("toy_modes", ["--seeds", "0"], "argument --seeds: expected a whole number >= 1, got 0"),
    ("toy_modes", ["--samples", "1"], "argument --samples: expected a whole number >= 2, got 1"),
    ("toy_modes", ["--batch-size", "0"], "argument --batch-size: expected a whole number >= 1, got 0")])
def test_a_bad_count_is_one_usage_error_before_any_run(monkeypatch, capsys, script, args, message):
    """Zero or negative counts were ignored (--steps 0 trained 10k steps) or failed with a traceback, some only after
    other runs had trained (--stacked-steps -1 lost the toy table)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.chdir(BENCHMARKS.parent)
    module = __import__(script)
    with pytest.raises(SystemExit) as stop:
        module.parse_args(args)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_paper_runs_train_simultaneously_unless_the_method_has_its_own_scheme(monkeypatch):
    """``--paper`` trains with the PacGAN code's loop (``simultaneous``); WGAN-GP and WGAN-clip keep their papers' 5
    critic steps and E-GAN its evolution; the default toy runs stay alternating."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from reproduce import toy_config
    from toy_modes import METHODS

    own = {"WGAN-GP": ("alternating", 5), "WGAN-clip": ("alternating", 5), "E-GAN": ("egan", None)}
    for method in METHODS:
        paper, default = (toy_config("grid25", method, 0, p, None)["scheme"] for p in (True, False))
        assert (paper["name"], paper.get("n_critic")) == own.get(method, ("simultaneous", None)), method
        assert default["name"] == own.get(method, ("alternating",))[0], method


def test_paper_packed_runs_normalise_each_slot_on_its_own(monkeypatch):
    """With ``--paper`` a PacGAN-m generator's batch norm takes each packing slot's statistics apart (bn_groups = m,
    the PacGAN code's m generator calls), unless ``--set`` gives bn_groups; the default toy G has no batch norm."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from reproduce import toy_config

    groups = {m: toy_config("ring8", m, 0, True, None)["generator"].get("bn_groups")
              for m in ("NS", "PacGAN2", "PacGAN4")}
    assert groups == {"NS": None, "PacGAN2": 2, "PacGAN4": 4}
    assert toy_config("grid25", "PacGAN4", 0, True, None, ["generator.bn_groups=1"])["generator"]["bn_groups"] == 1
    assert "bn_groups" not in toy_config("grid25", "PacGAN4", 0, False, None)["generator"]


def test_toy_methods_keep_their_papers_batch_unless_every_batch_is_set():
    """WGAN-GP takes its authors' toy batch (256) and WGAN-clip the WGAN paper's (64) over the dataset's default;
    ``--batch-size`` (``batch_overrides``) sets every method's, a packed discriminator's times its pack."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from toy_modes import base_config, batch_overrides, configure, own_batches
    finally:
        sys.path.remove(str(BENCHMARKS))

    def batch(method, extra=()):
        return configure(base_config("grid25", 0, 10, None, 1e-3, 0.99), method, list(extra))["train"]["batch_size"]

    assert own_batches() == {"WGAN-GP": 256, "WGAN-clip": 64}
    assert [batch(m) for m in ("NS", "WGAN-GP", "WGAN-clip", "PacGAN4")] == [512, 256, 64, 2048]
    assert [batch(m, batch_overrides(128)) for m in ("NS", "WGAN-GP", "WGAN-clip", "PacGAN4")] == [128, 128, 128, 512]


def test_weak_discriminator_rows_follow_pacgan_table_3(monkeypatch):
    """The Stacked MNIST rows "D = G/4" and "D = G/2" build the PacGAN code's weak-discriminator setting at 28 px: D's
    three 3x3 stride-2 convs of 2 (or 4) channels doubling, G's deconvs of 64, 32, 16, 8 channels after a BN of its 64
    input channels, z 256-D, batch 128
    packed inputs, Adam 1e-4 for G and 2e-4 for D, betas (0.5, 0.99)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from torch import nn

    from ganscape.training.gan_parts import build_gan_parts
    from reproduce import stacked_config

    for row, widths, pack in [("DCGAN, D = G/4", [2, 4, 8], 1), ("PacDCGAN2, D = G/4", [2, 4, 8], 2),
                              ("DCGAN, D = G/2", [4, 8, 16], 1), ("PacDCGAN2, D = G/2", [4, 8, 16], 2)]:
        parts = build_gan_parts(stacked_config(row, 0, False, 2, "/no/mnist/here"))
        assert parts.dataset.shape == (3, 28, 28), row
        d_convs = [m for m in parts.D.modules() if isinstance(m, nn.Conv2d)]
        assert [m.out_channels for m in d_convs] == widths and d_convs[0].in_channels == 3 * pack, row
        assert {m.kernel_size for m in d_convs} == {(3, 3)}, row
        g_deconvs = [m for m in parts.G.modules() if isinstance(m, nn.ConvTranspose2d)]
        assert [(m.in_channels, m.out_channels, m.kernel_size) for m in g_deconvs] == [
            (64, 32, (3, 3)), (32, 16, (3, 3)), (16, 8, (3, 3))], row
        assert isinstance(parts.G.norms[0].norm, nn.BatchNorm2d) and parts.G.norms[0].norm.num_features == 64, row
        assert parts.prior.dim == 256 and parts.config["train"]["batch_size"] == 128 * pack, row
        assert [(g["lr"], tuple(g["betas"])) for g in parts.opt_g.param_groups] == [(1e-4, (0.5, 0.99))], row
        assert [(g["lr"], tuple(g["betas"])) for g in parts.opt_d.param_groups] == [(2e-4, (0.5, 0.99))], row


def test_paper_stacked_rows_follow_pacgan_table_2s_code(monkeypatch):
    """``--paper`` trains Table 2's rows as the PacGAN code does: the DCGAN-TensorFlow networks at 28 px (D's four
    5x5 stride-2 convs of 64 to 512 channels, G's linear layer to 2x2x512 and four 5x5 transposed convs), z uniform
    on [-1, 1]^100, two G steps per D step, batch 64 (inputs), Adam 2e-4 (0.5, 0.999), 100k steps, scored every
    2,000; PacDCGAN2's G normalises each packing slot apart. Table 3's rows keep their own networks."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from torch import nn

    from ganscape.config import load_config
    from ganscape.priors.simple import UniformPrior
    from ganscape.training.gan_parts import build_gan_parts
    from reproduce import stacked_config

    for row, pack in [("DCGAN", 1), ("PacDCGAN2", 2)]:
        config = stacked_config(row, 0, True, 2, "/no/mnist/here", ["data={name: stacked_digits, size: 28}"])
        parts = build_gan_parts(config)
        d_convs = [m for m in parts.D.modules() if isinstance(m, nn.Conv2d)]
        assert [(m.in_channels, m.out_channels, m.kernel_size, m.stride) for m in d_convs] == [
            (3 * pack, 64, (5, 5), (2, 2)), (64, 128, (5, 5), (2, 2)), (128, 256, (5, 5), (2, 2)),
            (256, 512, (5, 5), (2, 2))], row
        g_deconvs = [m for m in parts.G.modules() if isinstance(m, nn.ConvTranspose2d)]
        assert [(m.in_channels, m.out_channels, m.kernel_size) for m in g_deconvs] == [
            (512, 256, (5, 5)), (256, 128, (5, 5)), (128, 64, (5, 5)), (64, 3, (5, 5))], row
        assert parts.G.fc.out_features == 2 * 2 * 512 and isinstance(parts.prior, UniformPrior), row
        assert parts.prior.dim == 100 and config["train"]["batch_size"] == 64 * pack, row
        assert {m.groups for m in parts.G.norms} == {pack}, row  # the code's m generator calls: BN per slot
        assert config["data"]["seed"] == 0, row
        assert config["scheme"] == {"name": "alternating", "g_steps": 2} and config["eval"]["every"] == 2000, row
        assert [(g["lr"], tuple(g["betas"])) for g in parts.opt_g.param_groups] == [(2e-4, (0.5, 0.999))], row
    assert stacked_config("DCGAN", 0, True, None, "/no/mnist/here")["train"]["steps"] == 100_000
    assert stacked_config("DCGAN", 3, True, None, "/no/mnist/here")["data"]["seed"] == 3  # new triples each trial
    assert load_config("dcgan-stacked-mnist-paper")["data"]["n"] == 128_000  # the code's: 2,000 steps an epoch
    weak = stacked_config("DCGAN, D = G/4", 0, True, None, "/no/mnist/here")
    assert weak["discriminator"]["name"] == "unrolled" and weak["generator"]["name"] == "sndcgan"


def test_default_stacked_table_2_rows_are_the_codes_setting_with_quarter_width_networks(monkeypatch):
    """The default budget trains Table 2's rows as ``--paper`` does (the DCGAN-TensorFlow networks, the code's prior,
    G steps, optimiser and new triples per seed) but with G and D 16 wide, not 64, for 2,000 steps, scored only at
    the end: our own ``dcgan`` at that budget did not collapse (983 modes) where the code's networks do."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from ganscape.config.dotted import config_diff
    from reproduce import stacked_config

    for row, pack in [("DCGAN", 1), ("PacDCGAN2", 2)]:
        default = stacked_config(row, 1, False, None, "/no/mnist/here")
        paper = stacked_config(row, 1, True, None, "/no/mnist/here")
        assert sorted(config_diff(paper, default)) == ["discriminator.ndf", "eval.every", "generator.ngf",
                                                       "train.steps"], row
        assert (default["generator"]["ngf"], default["discriminator"]["ndf"]) == (16, 16), row
        assert default["train"]["steps"] == 2000 and default["eval"]["every"] == 0, row
        assert default["data"]["seed"] == 1 and default["generator"].get("bn_groups", 1) == pack, row
    assert stacked_config("DCGAN", 0, False, None, "/no/mnist/here", every=500)["eval"]["every"] == 500


def test_stacked_rows_give_each_seeds_modes_beside_the_mean(monkeypatch):
    """A collapsed seed beside a covering one (980 and 1 modes) reads as 490.5 on average: the row names both."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from reproduce import modes_cell

    assert modes_cell([980.0, 1.0]) == "490.50 +- 489.50 (980, 1)"
    assert modes_cell([12.0]) == "12.00 +- 0.00"


def test_stacked_table_header_names_each_rows_budget_and_the_sample_count():
    done = run_script("--only", "stacked", "--stacked-seeds", "1", "--stacked-steps", "2", "--jobs", "1",
                      "--mnist-root", "/no/mnist/here", "--stacked-methods", "DCGAN", "DCGAN, D = G/4", *QUICK_SCORING)
    assert done.returncode == 0, done.stderr[-2000:]
    assert ("1 seed, 2600 samples; 16 px, 2 steps, G {name: dcgan_tf, ngf: 16, value_range: unit}, "
            "D {name: dcgan_tf, ndf: 16, value_range: unit} (DCGAN); "
            "28 px, 2 steps, G {name: sndcgan, ch: 8, kernel: 3, first_norm: channel}, D {name: unrolled, ndf: 2} "
            "(DCGAN, D = G/4)") in done.stdout, done.stdout
    # without MNIST files the rows train on the bundled digits: said, and no published number beside them
    assert "warning: no MNIST files in /no/mnist/here" in done.stderr and "(PacGAN T" not in done.stdout
    assert done.stdout.count("(not comparable: bundled digits, not MNIST)") == 2


def test_stacked_samples_reach_the_in_training_scoring_and_the_protocols_count_is_the_default(monkeypatch):
    """``--stacked-samples`` sets the final and the in-training (``eval.n``) sample count; the default is the
    published 26,000, which leaves the preset's config as it was (so earlier ``--out`` folders resume)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from ganscape.config import load_config
    from reproduce import stacked_config, stacked_jobs

    assert stacked_config("DCGAN", 0, True, None, "/no/mnist/here", every=5)["eval"]["n"] == 26_000
    assert stacked_config("DCGAN", 0, False, None, "/no/mnist/here", samples=2600)["eval"]["n"] == 2600
    args = argparse.Namespace(stacked_methods=["DCGAN"], stacked_seeds=2, first_seed=0, paper=False, stacked_steps=2,
                              mnist_root="/no/mnist/here", stacked_set=[], stacked_every=1, checkpoint_every=1000,
                              out=None, device="cpu", stacked_samples=2600, threads=1)
    assert [(config["eval"]["n"], samples) for config, samples, *_ in stacked_jobs(args)] == [(2600, 2600)] * 2
    preset = load_config("dcgan-stacked-mnist-paper", ["data={name: stacked_digits, size: 16}", "seed=0",
                                                 "train.sample_every=0", "device=cpu", "train.checkpoint_every=0"])
    paper = stacked_config("DCGAN", 0, True, None, "/no/mnist/here")
    assert paper == {**preset, "data": paper["data"]}
    done = run_script("--only", "stacked", "--stacked-samples", "0")
    assert done.returncode == 2 and "--stacked-samples: expected at least 2 samples, got 0" in done.stderr


def test_stacked_every_prints_each_runs_modes_during_training():
    """``--stacked-every K`` scores each Stacked MNIST run every K steps and prints one row per run and seed."""
    done = run_script("--only", "stacked", "--stacked-seeds", "1", "--stacked-steps", "2", "--stacked-every", "1",
                      "--jobs", "1", "--mnist-root", "/no/mnist/here", "--stacked-methods", "DCGAN", *QUICK_SCORING)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    header = lines.index("| method | seed | 1 | 2 | KL at the last |")
    row = [c.strip() for c in lines[header + 2].strip("|").split("|")]
    assert row[:2] == ["DCGAN", "0"] and all(1 <= int(c) <= 1000 for c in row[2:4]) and float(row[4]) >= 0, row


def test_trajectory_table_marks_steps_a_shorter_run_did_not_reach(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from reproduce import stacked_trajectory

    results = [{"stacked_modes": 9, "stacked_modes@1": 5, "stacked_kl@1": 2.0, "stacked_modes@2": 7,
                "stacked_kl@2": 1.5}, {"stacked_modes": 4, "stacked_modes@1": 3, "stacked_kl@1": 4.0},
               {"stacked_modes": 8}]  # a run whose scores --out kept from a command without --stacked-every
    lines = stacked_trajectory([("A", 0), ("B", 1), ("B", 2)], results)
    assert lines[-5:] == ["| method | seed | 1 | 2 | KL at the last |", "|---|---|---|---|---|",
                          "| A | 0 | 5 | 7 | 1.50 |", "| B | 1 | 3 | - | 4.00 |", "| B | 2 | - | - | - |"]


TOY_CELL = re.compile(r"^(\d+) / ([\d.]+)% / ([\d.]+|inf)$")


def test_toy_every_prints_each_runs_three_scores_during_training_and_progress_reprints_them(monkeypatch, tmp_path):
    """``--toy-every K`` scores each toy run every K steps with the table's protocol (2,500 samples) and prints modes /
    HQ share / reverse KL per run and step; ``--progress`` prints the same rows from the run folders without training
    ("-" for a seed not started), also when given without the flags a resume may change; a negative K, or
    ``--progress`` without ``--out``, is a usage line."""
    common = ["--only", "toy", "--steps", "4", "--toy-every", "2", "--jobs", "1", "--datasets", "ring8",
              "--methods", "NS", "--out", str(tmp_path), "--checkpoint-every", "2"]
    done = run_script(*common, "--seeds", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    header = lines.index("| data | method | seed | 2 | 4 |")
    rows = lines[header + 2:header + 4]
    for seed, line in enumerate(rows):
        row = [c.strip() for c in line.strip("|").split("|")]
        assert row[:3] == ["ring8", "NS", str(seed)], row
        for cell in row[3:]:
            modes, hq, kl = TOY_CELL.match(cell).groups()
            assert int(modes) <= 8 and 0 <= float(hq) <= 100, row
    expected = [lines[header], lines[header + 1], *rows, "| ring8 | NS | 2 | - | - |"]
    # the training command's flags; then without --only (no Stacked MNIST folder: no table), --toy-every, the interval
    for flags in (common, common[2:4] + common[6:14]):
        progress = run_script(*flags, "--seeds", "3", "--progress")
        assert progress.returncode == 0, progress.stderr[-2000:]
        assert progress.stdout.splitlines()[-6:] == ["", *expected], progress.stdout
    assert not (tmp_path / "toy" / "ring8" / "ns" / "seed-2").exists()
    elsewhere = run_script(*common[:-4], "--out", str(tmp_path / "none"), "--progress")
    none = tmp_path / "none"
    assert elsewhere.stdout.strip() == f"No run folder under {none} holds these runs yet.", elsewhere.stdout
    done = run_script("--only", "toy", "--progress")
    assert done.returncode == 2 and "--progress: needs --out DIR" in done.stderr, done.stderr
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from reproduce import toy_config

    scored = toy_config("grid25", "PacGAN4", 0, False, None, every=500)
    assert scored == toy_config("grid25", "PacGAN4", 0, False, None, ["eval.every=500", "eval.metrics=[modes]",
                                                                       "eval.n=2500"])
    # the paper presets already score the protocol: a --paper run folder of --set eval.every=K resumes with --toy-every
    assert toy_config("grid25", "PacGAN4", 0, True, None, every=500) == \
        toy_config("grid25", "PacGAN4", 0, True, None, ["eval.every=500"])
    for flag in ("--toy-every", "--stacked-every"):
        done = run_script(flag, "-1")
        assert done.returncode == 2 and f"{flag}: expected a number of steps >= 0" in done.stderr, done.stderr


def test_a_run_folder_gives_the_in_memory_runs_scores_however_it_was_stopped(monkeypatch, tmp_path):
    """``train_and_score`` with a run folder: the same scores as the run trained in memory, whether it trains
    uninterrupted, resumes after a stop mid-run, or was trained but killed before its scoring; a finished folder's
    kept scores come back without training."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import toy_modes
    from ganscape.training import train

    for method in ("NS", "WGAN-GP"):
        config = toy_modes.configure(toy_modes.base_config("grid25", 0, 60, None, 1e-3, 0.99), method,
                                     ["train.checkpoint_every=20"])
        in_memory = toy_modes.train_and_score(config, 500)
        assert toy_modes.train_and_score(config, 500, run_dir=tmp_path / method / "whole") == in_memory
        train(config, tmp_path / method / "stopped", show_progress=False, stop_at=30)
        assert toy_modes.train_and_score(config, 500, run_dir=tmp_path / method / "stopped") == in_memory
        train(config, tmp_path / method / "unscored", show_progress=False)
        assert toy_modes.train_and_score(config, 500, run_dir=tmp_path / method / "unscored") == in_memory
    monkeypatch.setattr(toy_modes, "train", lambda *a, **k: pytest.fail("a scored run folder was trained again"))
    assert toy_modes.train_and_score(config, 500, run_dir=tmp_path / "WGAN-GP" / "whole") == in_memory
    other = toy_modes.configure(toy_modes.base_config("grid25", 1, 60, None, 1e-3, 0.99), "WGAN-GP")
    assert toy_modes.kept_scores(tmp_path / "WGAN-GP" / "whole", other, 500) is None  # another seed's config
    assert toy_modes.kept_scores(tmp_path / "WGAN-GP" / "whole", config, 2500) is None  # another sample count


def test_reproduce_out_keeps_finished_runs_and_more_seeds_reuse_them(tmp_path):
    """``--out``: a second command with more seeds trains only the new ones, and its table is the table of one
    command that trained all of them; a folder holding another config is one usage line before anything trains."""
    common = ["--only", "toy", "--steps", "20", "--jobs", "1", "--datasets", "ring8", "--methods", "NS"]
    whole = run_script(*common, "--seeds", "2")
    first = run_script(*common, "--seeds", "1", "--out", str(tmp_path), "--checkpoint-every", "10")
    more = run_script(*common, "--seeds", "2", "--out", str(tmp_path), "--checkpoint-every", "10")
    for done in (whole, first, more):
        assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "toy" / "ring8" / "ns" / "seed-1" / "final_scores.jsonl").exists()
    assert "1 of 2 runs' scores kept from" in more.stdout, more.stdout

    def ns_row(done):
        row = next(line for line in done.stdout.splitlines() if line.startswith("| ring8 | NS |"))
        return row.rsplit(" | ", 1)[0]  # without the s/run cell

    assert ns_row(more) == ns_row(whole)
    clash = run_script(*common, "--seeds", "1", "--out", str(tmp_path), "--set", "train.batch_size=64")
    assert clash.returncode == 2 and "--out:" in clash.stderr and "train.batch_size" in clash.stderr, clash.stderr
    assert "Traceback" not in clash.stderr


def test_a_kept_run_is_not_scored_again_for_another_scoring_interval_nor_shown_under_a_shorter_budget(tmp_path):
    """A finished run asked for again with another --toy-every or --checkpoint-every (changes a resume may make) was
    scored again, each time adding its rows to final_scores.jsonl; asked for with fewer --steps, the longer run's
    scores stood in the table under the shorter budget's header."""
    common = ["--only", "toy", "--steps", "20", "--jobs", "1", "--datasets", "ring8", "--methods", "NS", "--seeds",
              "1", "--out", str(tmp_path)]
    first = run_script(*common, "--checkpoint-every", "10")
    again = run_script(*common, "--checkpoint-every", "5", "--toy-every", "10")
    for done in (first, again):
        assert done.returncode == 0, done.stderr[-2000:]
    assert "1 of 1 runs' scores kept from" in again.stdout, again.stdout
    scores = (tmp_path / "toy" / "ring8" / "ns" / "seed-0" / "final_scores.jsonl").read_text().splitlines()
    assert len(scores) == 3  # modes, high-quality share, reverse KL: once
    shorter = run_script(*[a if a != "20" else "10" for a in common])
    assert shorter.returncode == 2 and "Traceback" not in shorter.stderr, shorter.stderr
    assert "holds a run trained to step 20, past this command's 10 steps" in shorter.stderr


def test_first_seed_adds_later_seeds_whose_runs_a_full_command_then_keeps(tmp_path):
    """``--first-seed 1 --seeds 1`` trains seed 1 alone, in the folder a ``--seeds 2`` command then reuses: that
    command trains only seed 0 and prints the table of one command that trained both."""
    common = ["--only", "toy", "--steps", "20", "--jobs", "1", "--datasets", "ring8", "--methods", "NS"]
    whole = run_script(*common, "--seeds", "2")
    later = run_script(*common, "--seeds", "1", "--first-seed", "1", "--out", str(tmp_path), "--checkpoint-every", "10")
    both = run_script(*common, "--seeds", "2", "--out", str(tmp_path), "--checkpoint-every", "10")
    for done in (whole, later, both):
        assert done.returncode == 0, done.stderr[-2000:]
    assert "Toy mixtures: 20 steps, 1 seed (1)," in later.stdout, later.stdout
    assert sorted(p.name for p in (tmp_path / "toy" / "ring8" / "ns").iterdir()) == ["seed-0", "seed-1"]
    assert "1 of 2 runs' scores kept from" in both.stdout, both.stdout

    def ns_row(done):
        return next(line for line in done.stdout.splitlines() if line.startswith("| ring8 | NS |")).rsplit(" | ", 1)[0]

    assert ns_row(both) == ns_row(whole)
    bad = run_script(*common, "--first-seed", "-1")
    assert bad.returncode == 2 and "--first-seed: expected a seed >= 0, got -1" in bad.stderr, bad.stderr
    none = run_script(*common, "--seeds", "0")
    assert none.returncode == 2 and "--seeds: expected at least 1 seed, got 0" in none.stderr, none.stderr


TOY_RUNS = ["--datasets", "ring8", "--methods", "NS", "--seeds", "2", "--jobs", "2", "--steps", "200000"]


@pytest.mark.parametrize("script, args", [
    ("reproduce.py", TOY_RUNS + ["--only", "toy", "--checkpoint-every", "100000"]),
    ("toy_modes.py", TOY_RUNS),
    ("eval_cost.py", ["--study", "landscape-toy", "--ids", "36,37", "--workers", "2"]),  # two WGAN tasks
])
def test_sigterm_stops_the_pools_training_processes_too(tmp_path, script, args):
    """``kill`` (SIGTERM) of the command stops its training processes, as Ctrl-C does: before, the pool's workers
    went on training with the parent gone, holding their run folders (reproduce.py) and the cores (eval_cost.py's
    process pool waited for its workers' tasks to end on Ctrl-C too)."""
    import signal
    import time

    from ganscape.utils.io import folder_lock

    args = args + ["--out", str(tmp_path)] if script != "toy_modes.py" else args
    command = subprocess.Popen([sys.executable, str(BENCHMARKS / script), *args], cwd=BENCHMARKS,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(workers) < 2:
            time.sleep(0.5)
            workers = pool_workers_of(command.pid)
        assert len(workers) == 2, "the pool's two workers did not start"
        time.sleep(5)  # both inside their runs
        assert command.poll() is None, "the runs ended before the signal: give them more steps"
        command.send_signal(signal.SIGTERM)
        assert command.wait(timeout=60) != 0
        deadline = time.time() + 10
        while time.time() < deadline and any(map(alive, workers)):
            time.sleep(0.2)
        assert [pid for pid in workers if alive(pid)] == []
        if script == "reproduce.py":
            with folder_lock(tmp_path / "toy" / "ring8" / "ns" / "seed-0"):
                pass  # no process holds the run folder any more
    finally:
        for pid in [pid for pid in workers if alive(pid)]:
            os.kill(pid, signal.SIGKILL)
        command.kill()
        command.wait()


def test_ctrl_c_is_one_line_not_a_traceback_per_worker(tmp_path):
    """Ctrl-C in a terminal sends SIGINT to every process of the command's group, pool workers included: each
    printed its own KeyboardInterrupt traceback before the command's one line."""
    import signal
    import time

    command = subprocess.Popen([sys.executable, str(BENCHMARKS / "toy_modes.py"), *TOY_RUNS], cwd=BENCHMARKS,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(pool_workers_of(command.pid)) < 2:
            time.sleep(0.5)
        assert len(pool_workers_of(command.pid)) == 2, "the pool's two workers did not start"
        time.sleep(5)  # both inside their runs
        assert command.poll() is None, "the runs ended before the signal: give them more steps"
        os.killpg(command.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        _, err = command.communicate(timeout=60)
    finally:
        if command.poll() is None:
            os.killpg(command.pid, signal.SIGKILL)
    assert command.returncode == 130
    assert err == "interrupted: no run of this command trains on\n", err


def pool_workers_of(pid: int) -> list[int]:
    """The multiprocessing pool workers whose parent is ``pid`` (from /proc; not the resource tracker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid and b"spawn_main" in command and b"resource_tracker" not in command:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """``pid`` still runs (a zombie, dead but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_progress_says_where_each_run_stands(monkeypatch, tmp_path):
    """``--progress``: each run's step of its budget, and finished; training (another process holds its folder: a
    command that would train there is refused in one line); trained, not scored; stopped (at its newest checkpoint,
    where it resumes, with its rate and the training time left at it); or not started."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from reproduce import run_state, toy_config

    from ganscape.utils.io import folder_lock

    common = ["--only", "toy", "--jobs", "1", "--datasets", "ring8", "--methods", "NS", "--out", str(tmp_path),
              "--checkpoint-every", "2", "--set", "train.log_every=1"]
    done = run_script(*common, "--steps", "4", "--seeds", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    progress = run_script(*common, "--steps", "4", "--seeds", "2", "--progress")
    from ganscape.utils.environment import environment, machine_kind

    here = machine_kind(environment())
    assert f"| ring8 | NS | 0 | 4 of 4 | finished | - | - | {here} |" in progress.stdout, progress.stdout
    assert "| ring8 | NS | 1 | - | not started | - | - | - |" in progress.stdout, progress.stdout
    run_dir = tmp_path / "toy" / "ring8" / "ns" / "seed-0"
    scored = toy_config("ring8", "NS", 0, False, 4, ["train.log_every=1"], checkpoint_every=2)
    assert run_state(scored, 500, run_dir) == ["4 of 4", "trained, not scored", "-", "-"]  # scored on 2,500
    longer = toy_config("ring8", "NS", 0, False, 8, ["train.log_every=1"], checkpoint_every=2)  # a resume to 8 steps
    step, state, rate, left = run_state(longer, 2500, run_dir)
    assert (step, state) == ("4 of 8", "stopped") and float(rate) > 0, (step, state, rate, left)
    assert re.fullmatch(r"\d+s|\d+m\d\ds", left), left
    (run_dir / "checkpoints" / "ckpt-00000004.pt").unlink()  # killed before its step-4 checkpoint: resumes from 2
    assert run_state(longer, 2500, run_dir)[:2] == ["2 of 8", "stopped"]
    with folder_lock(run_dir):  # as a process training in it holds it
        assert run_state(longer, 2500, run_dir)[:2] == ["4 of 8", "training"]  # its newest logged step
        busy = run_script(*common, "--steps", "8", "--seeds", "1")
    assert busy.returncode == 2 and f"--out: {run_dir}: another process is training this run now" in busy.stderr, \
        busy.stderr
    # the default toy config logs its last step alone: a stopped run's checkpoints still say where it stands
    unlogged = tmp_path / "unlogged"
    done = run_script(*common[:-2], "--steps", "4", "--seeds", "1", "--out", str(unlogged))
    assert done.returncode == 0, done.stderr[-2000:]
    run_dir = unlogged / "toy" / "ring8" / "ns" / "seed-0"
    (run_dir / "checkpoints" / "ckpt-00000004.pt").unlink()
    (run_dir / "metrics.jsonl").unlink()
    assert run_state(toy_config("ring8", "NS", 0, False, 8, checkpoint_every=2), 2500, run_dir) == \
        ["2 of 8", "stopped", "-", "-"]


def test_a_run_folder_taken_after_the_busy_check_is_one_line(monkeypatch, tmp_path, capsys):
    """A process that begins training a run between the command's busy check and the pool worker's start (the check
    looks once, before anything trains) ends the command with one line naming the folder, not the worker's
    traceback."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import reproduce

    from ganscape.utils.io import folder_lock

    monkeypatch.setattr(reproduce, "folder_busy", lambda run_dir: False)  # the check ran before the other process
    run_dir = tmp_path / "toy" / "ring8" / "ns" / "seed-0"
    with folder_lock(run_dir), pytest.raises(SystemExit) as stop:
        reproduce.main(["--only", "toy", "--datasets", "ring8", "--methods", "NS", "--seeds", "1", "--steps", "20",
                        "--jobs", "1", "--out", str(tmp_path), "--checkpoint-every", "10"])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.startswith(f"reproduce.py: error: --out: {run_dir}: another process is using this run folder right "
                          "now") and err.count("\n") == 1, err


def test_the_machine_line_names_the_cpu_kind_cores_torch_and_commit(monkeypatch):
    """Seeded runs repeat to the last digit on one kind of CPU only, so each benchmark's first line says which."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import common
    from ganscape.utils import environment as env_mod

    cpuinfo = ["model name\t: Some CPU 9000", "flags\t\t: fpu avx512f amx_tile"]
    monkeypatch.setattr(env_mod, "cpuinfo_lines", lambda: cpuinfo)
    monkeypatch.setattr(env_mod, "usable_cores", lambda: 3)
    line = common.machine_line()
    assert MACHINE.match(line), line
    assert line.startswith("machine: Some CPU 9000 (AVX-512, AMX), 3 cores; torch ")
    monkeypatch.setattr(env_mod, "cpuinfo_lines", lambda: [])
    assert MACHINE.match(common.machine_line())


def test_progress_names_each_machine_a_run_trained_on_and_from_which_step(monkeypatch, tmp_path):
    """Seeded runs repeat to the last digit only on one machine kind: ``--progress`` shows where a long run moved."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from reproduce import machines

    from ganscape.utils.io import append_jsonl

    assert machines(tmp_path) == "-"  # a run from before environment.jsonl
    intel = {"cpu": "Intel(R) Xeon(R) Processor", "cpu_features": ["AVX-512", "AMX"], "gpu": None, "cores": 2}
    for step, env in ((0, intel), (10_000, intel), (20_000, {**intel, "cpu": "AMD EPYC", "cpu_features": []}),
                      (30_000, {**intel, "gpu": "NVIDIA H200"})):
        append_jsonl(tmp_path / "environment.jsonl", {"step": step, **env})
        if step == 10_000:
            assert machines(tmp_path) == "Intel(R) Xeon(R) Processor (AVX-512, AMX)"  # a resume on the same kind
    assert machines(tmp_path) == ("Intel(R) Xeon(R) Processor (AVX-512, AMX) from 0; AMD EPYC from 20,000; "
                                  "Intel(R) Xeon(R) Processor (AVX-512, AMX), GPU NVIDIA H200 from 30,000")
