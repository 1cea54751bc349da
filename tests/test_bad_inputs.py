"""Bad input, every command: one clear line naming the bad key, value or file, a nonzero exit, no traceback, and
nothing new or changed in the output folder. Each case is a command line and a fragment its message must hold."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli_helpers import ganscape, snapshot
from ganscape.config import dump_yaml

RUN_TINY = ["generator.hidden=8", "discriminator.hidden=8", "generator.layers=1", "discriminator.layers=1",
            "train.steps=4", "train.checkpoint_every=2", "train.log_every=2", "train.sample_every=0"]
DIGITS_TINY = ["data.size=8", "generator.ngf=4", "discriminator.ndf=4", "train.steps=2", "train.batch_size=8",
               "train.checkpoint_every=2", "train.log_every=1", "train.sample_every=0"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A folder with a toy run, a digits run, a planned study, and bad input files of every kind."""
    root = tmp_path_factory.mktemp("world")
    assert ganscape("train", "ring8", *RUN_TINY, "--no-progress", "--out", str(root / "ring")).returncode == 0
    assert ganscape("train", "dcgan-digits", *DIGITS_TINY, "--no-progress", "--out", str(root / "digits")).returncode == 0
    shutil.copytree(root / "ring", root / "unwritable")
    (root / "unwritable" / "results.jsonl").mkdir()  # results cannot be written there
    (root / "study.yaml").write_text(dump_yaml({"name": "s", "base": "ring8", "overrides": RUN_TINY}))
    assert ganscape("study", "plan", str(root / "study.yaml"), "--out", str(root / "study")).returncode == 0
    files = root / "files"
    files.mkdir()
    (files / "malformed.yaml").write_text("a: [1, 2\nb: {")
    (files / "list.yaml").write_text("- 1\n- 2\n")
    (files / "empty.yaml").write_text("# cut short\n")
    (files / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    (files / "evil.yaml").write_text("seed: !!python/object/apply:os.system ['echo hacked']\n")
    (files / "unknown.yaml").write_text("base: ring8\ncolour: red\n")
    (files / "cycle.yaml").write_text("base: cycle.yaml\n")
    np.savez(files / "rgb.npz", x=np.zeros((8, 16, 16, 3), np.uint8))
    np.savez(files / "5d.npz", x=np.zeros((2, 2, 2, 2, 2), np.uint8))
    np.savez(files / "strings.npz", x=np.array([["a", "b"], ["c", "d"]]))
    np.savez(files / "objects.npz", x=np.array([{"a": 1}, None], dtype=object))
    np.savez(files / "empty.npz", x=np.zeros((0, 8, 8), np.uint8))
    np.savez(files / "complex.npz", x=np.ones((4, 8, 8), np.complex64))
    np.savez(files / "nan.npz", x=np.full((16, 2), np.nan, np.float32))
    np.savez(files / "nokey.npz", images=np.zeros((4, 8, 8), np.uint8))
    (files / "notzip.npz").write_text("plain text")
    over = np.random.default_rng(0).uniform(-1, 1, (8, 8, 8)).astype(np.float32)
    over[0, 0, 0] = 1.02  # one value past [-1, 1]: was read as 0..255, rc 0 and a garbage score
    np.savez(files / "over.npz", x=over)
    (files / "empty_folder").mkdir()
    (files / "notes").mkdir()
    (files / "notes" / "readme.txt").write_text("no images here")
    (files / "broken_pngs").mkdir()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(files / "broken_pngs" / "a.png")
    data = (files / "broken_pngs" / "a.png").read_bytes()
    for i in range(3):
        (files / "broken_pngs" / f"t{i}.png").write_bytes(data[: len(data) // 2])
    (files / "broken_pngs" / "a.png").write_bytes(data[: len(data) // 3])
    (files / "a_file").write_text("x")
    (files / "dup_key.yaml").write_text("base: ring8\ntrain:\n  steps: 5\n  steps: 7\n")
    (files / "neg_cpus.yaml").write_text(dump_yaml({"name": "t", "base": "ring8", "resources": {"cpus": -3}}))
    (files / "bad_report.yaml").write_text(dump_yaml({"name": "t", "base": "ring8", "report": {"metrics": ["fdi"]}}))
    (files / "twice.yaml").write_text(dump_yaml({"name": "t", "base": "ring8", "seeds": [0, 0]}))
    for name, study in {"seed_axis": {"grid": {"seed": [1, 2, 3]}},
                        "neg_random_seed": {"random": {"seed": -5, "space": {"optim.g.lr": {"uniform": [1e-4, 1e-3]}}}},
                        "inf_bound": {"random": {"space": {"optim.g.lr": {"uniform": [1e-4, float("inf")]}}}},
                        "bool_samples": {"random": {"samples": True, "space": {"optim.g.lr": {"uniform": [0, 1]}}}},
                        "list_grid": {"grid": []}, "inf_cpus": {"resources": {"cpus": float("inf")}}}.items():
        (files / f"{name}.yaml").write_text(dump_yaml({"name": "t", "base": "ring8", **study}))
    (files / "text_bounds.yaml").write_text(dump_yaml({"name": "t", "base": "ring8", "random": {
        "samples": 2, "space": {"optim.d.lr": {"loguniform": ["a", "b"]}}}}))
    return root


NPZ = lambda name: ["train", "dcgan-digits", "data.name=npz", f"data.path={{files}}/{name}"]  # noqa: E731
CASES = [
    # ----- train: configs, files, overrides
    (["train", "nope-preset"], "unknown config 'nope-preset'"),
    (["train", "{files}/missing.yaml"], "missing.yaml: file not found"),
    (["train", "{files}/malformed.yaml"], "malformed.yaml: not valid YAML (line"),
    (["train", "{files}/list.yaml"], "a config must be a mapping"),
    (["train", "{files}/empty.yaml"], "empty.yaml: an empty config file; give at least `base: PRESET`"),
    (["train", "ring8", "kind=[1]"], "kind: unknown run kind [1]; valid: gan, translation"),  # was a TypeError
    (["train", "{files}/binary.yaml"], "binary.yaml: not"),
    (["train", "{files}/evil.yaml"], "evil.yaml: not valid YAML"),
    (["train", "{files}/unknown.yaml"], "colour: unknown key"),
    (["train", "{files}/cycle.yaml"], "cycle of bases"),
    (["train", "{files}"], "files': not a file, and not a preset"),
    (["train", "ring8", "train.steps"], "not key=value"),
    (["train", "ring8-egan", "scheme.gamma=.nan"], "scheme.gamma: must be a finite number, got nan"),
    (["train", "ring8", "penalty.name=r1", "penalty.gamma=.inf"], "penalty.gamma: must be a finite number, got inf"),
    (["train", "ring8", "optim.d.name=rmsprop", "optim.d.alpha=.nan"], "optim.d.alpha: must be a finite number"),
    (["train", "ring8", "loss.name=[hinge]"], "loss.name: unknown objective ['hinge']; registered:"),
    (["train", "ring8", "train.channels_last=1"], "train.channels_last: 1 is not valid"),
    (["train", "ring8", "train.compile=0"], "train.compile: 0 is not valid"),
    (["train", "ring8", "train.batch_size=1", "generator.norm=batch"],
     "train.batch_size: 1 does not cut into generator.bn_groups (1) groups of at least two samples; use e.g. 2\n"),
    (["train", "ring8", "train.batch_size=1", "discriminator.norm=batch"],
     "gives the batch-norm MLP discriminator fewer than two (packed) inputs"),
    (["train", "ring8", "optim.d.betas=[a, b]"], "optim.d.betas: expected list[float], got ['a', 'b']"),
    (["train", "ring8", "data.name=npz", "--out", "{tmp}/r"], "data.path: dataset 'npz' needs option 'path'"),
    (["train", "ring8-egan", "loss.name=tsgan", "discriminator.name=pair"], "loss.name: 'tsgan' scores pairs"),
    (["train", "ring8-tgan", "penalty.name=r1"], "penalty.name: 'r1' differentiates the pair critic's single-sample "
     "score D(E(x)), which loss 'tsgan' never trains"),
    (["train", "ring8-tgan", "loss.name=twgan", "penalty.name=wgan_gp"], "penalty.name: 'wgan_gp' differentiates"),
    (["train", "acgan-digits", "scheme.name=egan"], "scheme.name: 'egan' does not train an auxiliary classifier"),
    (["train", "cdcgan-digits", "generator.name=sndcgan", "generator.norm=none", "generator.conditional=true"],
     "generator.norm: 'none' leaves a conditional generator no class-conditional batch norm"),
    (["train", "stylegan-digits", "generator.truncation_cutoff=-3"], "generator.truncation_cutoff: must be >= 0"),
    (["train", "ring8", "=3"], "has an empty key"),
    (["train", "ring8", "optim..lr=3"], "has an empty key"),
    (["train", "ring8", "train.steps=[1"], "override train.steps: not valid YAML"),
    # ----- train: speed settings (issue 13)
    (["train", "ring8", "train.precision=fp8"], "train.precision: 'fp8' is not valid; choose one of auto, fp32"),
    (["train", "ring8", "train.precision=fp16"], "train.precision: 'fp16' needs a CUDA GPU"),
    (["train", "ring8", "device=cpu", "train.precision=fp16"], "and device is cpu"),
    (["train", "ring8", "train.compile=fast"], "train.compile: 'fast' is not valid; choose one of false, default"),
    (["train", "ring8", "train.compile=true"], "train.compile: True is not valid"),
    (["train", "ring8", "train.channels_last=maybe"], "train.channels_last: 'maybe' is not valid"),
    (["train", "ring8", "train.check_ranks_every=-1"], "train.check_ranks_every: must be"),
    (["train", "ring8", "scheme.name=egan", "device=cpu", "train.precision=fp16"], "fp16"),
    (["train", "cyclegan-digits", "train.precision=bf16"], "kind 'translation' runs train in fp32"),
    # ----- train: every config section's values, types and ranges
    (["train", "ring8", "train.steps=0"], "train.steps: must be"),
    (["train", "ring8", "train.steps=-5"], "train.steps: must be"),
    (["train", "ring8", "train.steps=ten"], "train.steps: expected int"),
    (["train", "ring8", "train.steps=2.5"], "train.steps: expected int"),
    (["train", "ring8", "train.batch_size=0"], "train.batch_size: must be"),
    (["train", "ring8", "train.batch_size=1000000"], "train.batch_size: 1000000 is larger than the dataset"),
    (["train", "ring8", "train.checkpoint_every=-1"], "train.checkpoint_every: must be"),
    (["train", "ring8", "train.sample_every=-1"], "train.sample_every: must be"),
    (["train", "ring8", "train.log_every=0"], "train.log_every: must be"),
    (["train", "ring8", "train.keep_checkpoints=-2"], "train.keep_checkpoints: must be"),
    (["train", "ring8", "train.ema_decay=1"], "train.ema_decay: must be"),
    (["train", "ring8", "train.ema_decay=-0.1"], "train.ema_decay: must be"),
    (["train", "ring8", "train.stepz=5"], "train.stepz: unknown key"),
    (["train", "ring8", "optim.g.lr=0"], "optim.g.lr: must be"),
    (["train", "ring8", "optim.d.lr=-1e-3"], "optim.d.lr: must be"),
    (["train", "ring8", "optim.g.lr=.nan"], "optim.g.lr: must be a finite number"),
    (["train", "ring8", "optim.g.lr=fast"], "optim.g.lr: expected float"),
    (["train", "ring8", "optim.g.betas=[0.5]"], "optim.g.betas: need two numbers"),
    (["train", "ring8", "optim.d.betas=[1.5, 0.9]"], "optim.d.betas: need two numbers"),
    (["train", "ring8", "seed=-1"], "seed: must be"),
    (["train", "ring8", "device=tpu"], "device: 'tpu' is not valid"),
    (["train", "ring8", "kind=video"], "kind: unknown run kind 'video'"),
    (["train", "ring8", "colour=1"], "colour: unknown key"),
    (["train", "ring8", "loss.name=nope"], "loss.name: unknown objective 'nope'"),
    (["train", "ring8", "loss.margin=2"], "loss.margin: objective 'nonsaturating' has no option"),
    (["train", "ring8", "generator.name=nope"], "generator.name: unknown generator 'nope'"),
    (["train", "ring8", "generator.layers=0"], "generator.layers: must be >= 1"),
    (["train", "ring8", "discriminator.layers=-1"], "discriminator.layers: must be >= 1"),
    (["train", "ring8", "generator.hidden=0"], "generator.hidden: must be >= 1"),
    (["train", "ring8", "discriminator.norm=group"], "discriminator.norm: expected one of"),
    (["train", "dcgan-digits", "generator.ngf=0"], "generator.ngf: must be >= 1"),
    (["train", "dcgan-digits", "discriminator.ndf=-3"], "discriminator.ndf: must be >= 1"),
    (["train", "dcgan-digits", "data.size=24"], "cannot make 24 px images"),
    (["train", "dcgan-digits", "generator.name=mlp"], "is for vector data"),
    (["train", "dcgan-digits", "discriminator.name=cdcgan"], "discriminator.conditioning: 'projection'"),
    (["train", "ring8", "data.name=nope"], "data.name: unknown dataset 'nope'"),
    (["train", "ring8", "data.n=0"], "data.n: must be >= 1, got 0"),
    (["train", "ring8", "data.std=0"], "std: must be > 0"),
    (["train", "dcgan-digits", "data.size=4"], "size: must be >= 8"),
    (["train", "dcgan-digits", "data.size=0"], "data.size: must be >= 1, got 0"),
    (["train", "dcgan-stacked-mnist", "data.root=/nowhere", "data.size=0"],
     "data.size: must be >= 1, got 0"),
    (["train", "ring8", "prior.dim=0"], "prior.dim: must be >= 1"),
    (["train", "ring8", "prior.name=cauchy"], "prior.name: unknown prior 'cauchy'"),
    (["train", "ring8", "penalty.name=wgan_gp", "penalty.weight=-1"], "penalty.weight: must be >= 0"),
    (["train", "ring8", "scheme.n_critic=0"], "n_critic"),
    (["train", "ring8", "schedule.name=nope"], "schedule.name: unknown schedule 'nope'"),
    (["train", "ring8", "schedule.name=linear_decay", "schedule.start=2"], "schedule.start: must be in [0, 1]"),
    (["train", "ring8", "eval.n=1"], "eval.n: expected an integer >= 2"),
    (["train", "ring8", "eval.every=-1"], "eval.every: must be"),
    (["train", "ring8", "eval.metrics=[fdi]"], "eval.metrics[0].name: unknown metric 'fdi'"),
    (["train", "ring8", "eval.metrics=fid"], "eval.metrics: expected list"),
    (["train", "cyclegan-digits", "loss.lambda_cycle=-1"], "loss.lambda_cycle: must be >= 0"),
    (["train", "cyclegan-digits", "data.size=10", "data_b.size=10"], "generator.n_down"),
    # ----- train: data files
    (["train", "dcgan-mnist", "data.root={files}/nowhere"], "not found in"),
    (NPZ("missing.npz"), "data.path: file not found"),
    (NPZ("5d.npz"), "5d.npz"),
    (NPZ("strings.npz"), "strings.npz"),
    (NPZ("objects.npz"), "objects.npz"),
    (NPZ("empty.npz"), "empty.npz"),
    (NPZ("complex.npz"), "complex.npz"),
    (NPZ("nokey.npz"), "data.key: 'x' not in"),
    (NPZ("notzip.npz"), "notzip.npz"),
    (["train", "ring8", "data.name=npz", "data.path={files}/nan.npz"], "NaN or inf"),
    (["train", "dcgan-digits", "data.name=image_folder", "data.path={files}/empty_folder"], "no images"),
    (["train", "dcgan-digits", "data.name=image_folder", "data.path={files}/notes"], "no images"),
    (["train", "dcgan-digits", "data.name=image_folder", "data.path={files}/broken_pngs", "data.size=8",
      "data.channels=1"], "broken_pngs"),
    (["train", "dcgan-digits", "data.name=image_folder", "data.path={files}/missing_folder"], "not a folder"),
    # ----- train: output folder
    (["train", "ring8", "--out", "/proc/ganscape-run"], "cannot write there"),
    (["train", "ring8", *RUN_TINY, "loss.name=hinge", "--out", "{root}/ring"], "holds a run with a different config"),
    # ----- sample
    (["sample", "{files}/nowhere", "--out", "{tmp}/x.png"], "not a run folder"),
    (["sample", "{files}/empty_folder", "--out", "{tmp}/x.png"], "not a run folder"),
    (["sample", "{root}/ring", "--n", "0", "--out", "{tmp}/x.png"], "--n: must be >= 1"),
    (["sample", "{root}/ring", "--n", "abc", "--out", "{tmp}/x.png"], "argument --n: invalid int value"),
    (["sample", "{root}/ring", "--checkpoint", "3", "--out", "{tmp}/x.png"], "available: 2, 4"),
    (["sample", "{root}/ring", "--class", "3", "--out", "{tmp}/x.png"], "--class: this generator is unconditional"),
    (["sample", "{root}/ring", "--truncation", "0.5", "--out", "{tmp}/x.png"], "truncation"),
    (["sample", "{root}/ring", "--direction", "up", "--out", "{tmp}/x.png"], "argument --direction: invalid choice"),
    (["sample", "{root}/ring", "--direction", "b2a", "--out", "{tmp}/x.png"],
     "--direction: b2a applies to translation runs only"),
    (["eval", "{root}/digits", "--direction", "a2b"], "--direction: a2b applies to translation runs only"),
    (["sample", "{root}/ring", "--out", "/proc/x.png"], "cannot write there"),
    (["sample", "{root}/ring", "--out", "/proc/xs/"], "argument --out: /proc/xs: cannot write there"),  # not .probe
    (["sample", "{root}/ring", "--seed", "99999999999999999999999", "--out", "{tmp}/x.png"],
     "argument --seed: 99999999999999999999999 is out of range; a seed is in 0..2**62"),
    (["sample", "{root}/ring", "--truncation", "0.7", "--direction", "b2a", "--out", "{tmp}/x.png"],
     "--direction: b2a picks a translator, and translation runs take no --truncation"),
    (["style-mix", "{root}/digits", "--seed-rows", "-1", "--out", "{tmp}/m.png"], "argument --seed-rows: -1 is out of"),
    (["eval", "{root}/digits", "--seed", "abc"], "argument --seed: 'abc' is not an integer seed"),
    (["sample", "{root}/ring", "--n", "1000000000000", "--out", "{tmp}/x.npz"],
     "out of memory (you tried to allocate 8000000000000 bytes); ask for less at once"),
    (["sample", "{root}/ring", "--out", "{tmp}/x.jpg"], "--out"),
    # ----- eval
    (["eval", "{root}/ring", "--metrics", "fdi"], "unknown metric 'fdi'"),
    (["eval", "{root}/ring", "--n", "1"], "--n/--samples: must be >= 2"),
    (["eval", "{root}/ring", "--samples", "1"], "--n/--samples: must be >= 2"),  # not only the name not typed
    (["eval", "{root}/ring", "--checkpoint", "latest"], "--checkpoint: expected a step number or 'all'"),
    # the error named reference.name, not the option
    (["eval", "{root}/ring", "--reference", "{{name: nope}}"], "--reference.name: unknown dataset 'nope'"),
    (["eval", "{root}/ring", "--reference", "[1, 2"], "--reference: not valid YAML"),
    (["eval", "{root}/ring", "--reference-n", "1"], "--reference-n: must be >= 2"),
    (["eval", "{root}/digits", "--metrics", "fid", "--extractor", "inception", "--inception-weights",
      "{files}/missing.pth"], "inception reads colour images, but these samples have shape (1, 8, 8)"),
    (["eval", "{root}/ring", "--metrics", "fid", "--extractor", "lenet"], "lenet reads images, but these samples"),
    (["eval-images", "{files}/rgb.npz", "--reference", "{{name: stacked_digits, size: 16}}", "--metrics", "fid",
      "--extractor", "inception", "--inception-weights", "{files}/missing.pth"], "file not found"),
    (["eval", "{root}/ring", "--metrics", "stacked_modes"], "stacked_modes needs 3-channel"),
    (["eval", "{root}/digits", "--metrics", "modes"], "needs 2-D toy mixture data"),
    (["eval", "{files}/nowhere"], "not a run folder"),
    (["eval", "{root}/unwritable"], "results.jsonl: is a folder"),
    # ----- eval-images
    (["eval-images", "{files}/missing.npz", "--reference", "digits"], "missing.npz"),
    (["eval-images", "{files}/5d.npz", "--reference", "digits"], "5d.npz"),
    (["eval-images", "{files}/a_file", "--reference", "digits"], "neither an .npz file nor a folder"),
    (["eval-images", "{files}/over.npz", "--reference", "{{name: digits, size: 8}}"],
     ", 1.02] fit none of [0, 1], [-1, 1] or 0..255; set value_range (eval-images: --value-range)"),
    (["eval-images", "{files}/notzip.npz", "--reference", "digits"], "is not an .npz file (a zip archive"),
    (["eval-images", "{root}/digits", "--reference", "digits"], "is a run folder; evaluate a run with `ganscape eval"),
    (["eval-images", "{files}/empty_folder", "--reference", "digits"], "no images"),
    (["eval-images", "{files}/5d.npz", "--reference", "nope"], "unknown dataset 'nope'"),
    (["eval-images", "{files}/strings.npz", "--reference", "digits", "--out", "/proc/r.jsonl"], "cannot write there"),
    # ----- analysis and translation
    (["interpolate", "{root}/ring", "--out", "{tmp}/i.png"], "needs an image generator"),
    (["interpolate", "{root}/digits", "--steps", "1", "--out", "{tmp}/i.png"], "--steps: need at least 2"),
    (["interpolate", "{root}/digits", "--rows", "0", "--out", "{tmp}/i.png"], "--rows: must be >= 1"),
    (["interpolate", "{root}/digits", "--rows", "100000", "--steps", "100000", "--out", "{tmp}/i.png"],
     "--rows x --steps: 10,000,000,000 images in one PNG grid; at most 10,000"),
    (["style-mix", "{root}/digits", "--rows", "10000", "--out", "{tmp}/m.png"], "--rows x --cols: 50,005 images"),
    (["sample", "{root}/digits", "--n", "3000000000", "--out", "{tmp}/s.png"], "--n: 3,000,000,000 images in one"),
    (["data", "prepare", "folder", "--from", "{files}/empty_folder", "--size", "100000"], "--size: 100000 px; at most"),
    (["style-mix", "{root}/digits", "--out", "{tmp}/m.png"], "needs a StyleGAN generator"),
    (["translate", "{root}/digits", "--input", "{files}/broken_pngs", "--out", "{tmp}/t"], "needs a translation run"),
    # ----- studies
    (["study", "plan", "no-such-study", "--out", "{tmp}/st"], "unknown study 'no-such-study'"),
    (["study", "plan", "{files}/malformed.yaml", "--out", "{tmp}/st"], "not valid YAML"),
    (["study", "plan", "{files}/unknown.yaml", "--out", "{tmp}/st"], "unknown study key"),
    (["study", "run", "{files}/empty_folder", "--all"], "is not a study folder"),
    (["study", "run", "{root}/study", "--task", "99"], "--task: no task 99"),
    (["study", "run", "{root}/study", "--all", "--workers", "0"], "--workers: must be >= 1"),
    (["study", "run", "{root}/study"], "one of the arguments --task --all is required"),
    (["study", "status", "{files}/nowhere"], "is not a study folder"),
    (["study", "report", "{files}/empty_folder", "--out", "{tmp}/r.html"], "is not a study folder"),
    (["study", "report", "{root}/study", "--out", "/proc/r.html"], "cannot write there"),
    (["study", "report", "{root}/study", "--out", "{tmp}/r.html", "--factor", "los.name"], "--factor: 'los.name'"),
    (["study", "report", "{root}/study", "--out", "{tmp}/r.csv", "--factor", "loss.name"], "--factor: the budget plot"),
    (["train", "stylegan-pair-digits", "generator.pl_weight=2", "scheme.name=egan", "--out", "{tmp}/r"],
     "generator.pl_weight: 2 (path-length"),
    (["train", "ring8", "discriminator.pack=4", "train.batch_size=4", "--out", "{tmp}/r"],
     "train.batch_size: 4 makes 1 group of discriminator.pack (4) samples, and a batch needs at least two"),
    (["train", "acgan-digits", "scheme.name=simultaneous", "--out", "{tmp}/r"],
     "scheme.name: 'simultaneous' does not train an auxiliary classifier"),
    (["train", "ring8", "generator.bn_momentum=2", "--out", "{tmp}/r"],
     "generator.bn_momentum: must be in [0, 1], got 2"),
    (["nope"], "invalid choice: 'nope'"),
    # ----- found by an audit: each was a traceback, a silent overwrite or a leftover file before its fix
    (["train", "ring8", "data.modes=0"], "data.modes: must be >= 1, got 0"),
    (["train", "ring8", "data.radius=-1"], "radius: must be > 0, got -1"),
    (["train", "ring8", "data={{name: grid25, side: 0}}"], "data.side: must be >= 1, got 0"),
    (["eval", "{root}/ring", "--reference", "{{name: ring8, modes: 0}}"], "modes: must be >= 1, got 0"),
    (["study", "plan", "{root}/study.yaml", "--out", "{files}/a_file"], "exists and is not a folder"),
    (["study", "plan", "{root}/study.yaml", "--out", "{files}/notes"], "is not empty and holds no study"),
    (["study", "plan", "{files}/text_bounds.yaml", "--out", "{tmp}/st"], "two finite numbers with low <= high"),
    (["dissect", "{root}/digits", "--layer", "nope", "--out", "{tmp}/d"], "--layer: unknown layer 'nope'"),
    (["dissect", "{root}/digits", "--layer", "net.2", "--out", "{tmp}/d"], "--segmenter scenes: segments RGB"),
    (["data", "prepare", "folder", "--from", "{files}/empty_folder", "--root", "{tmp}/data"], "no images"),
    (["data", "prepare", "folder", "--from", "{files}/empty_folder", "--name", ""], "--name: empty; leave it out"),
    (["data", "prepare", "folder", "--from", "{files}/empty_folder", "--root", " "], "--root: empty; leave it out"),
    (["train", ""], "config: an empty name; give a preset"),
    (["study", "plan", "{files}/twice.yaml", "--out", "{tmp}/st"], "seeds: each seed once"),
    (["study", "plan", "{files}/neg_cpus.yaml", "--out", "{tmp}/st"],
     "resources.cpus: expected a finite number >= 0, got -3"),
    (["study", "plan", "{files}/inf_cpus.yaml", "--out", "{tmp}/st"], "resources.cpus: expected a finite number >= 0"),
    (["study", "plan", "{files}/seed_axis.yaml", "--out", "{tmp}/st"],
     "grid.seed: not an axis; set seeds with the top-level seeds: list"),
    (["study", "plan", "{files}/neg_random_seed.yaml", "--out", "{tmp}/st"],
     "random.seed: expected an integer >= 0, got -5"),
    (["study", "plan", "{files}/inf_bound.yaml", "--out", "{tmp}/st"], "two finite numbers with low <= high"),
    (["study", "plan", "{files}/bool_samples.yaml", "--out", "{tmp}/st"],
     "random.samples: expected a positive integer, got True"),
    (["study", "plan", "{files}/list_grid.yaml", "--out", "{tmp}/st"], "grid: expected a mapping of axis -> values"),
    (["study", "plan", "{root}/study.yaml", "--out", "/proc/no/study"], "--out: cannot create /proc/no/study"),
    (["study", "run", "{root}/study", "--all", "--threads", "-3"], "--threads: expected 0"),
    (["train", "ring8", "--out="], "--out: an empty path would train into the current folder"),
    (["study", "plan", "{files}/bad_report.yaml", "--out", "{tmp}/st"], "report.metrics: metric 'fdi' is not"),
    (["study", "report", "{root}/study", "--out", "{tmp}/r.txt"], "name a .html or .csv file"),
    (["study", "report", "{root}/study", "--out", "{tmp}/r.html", "--metric", "fdi"], "--metric: metric 'fdi'"),
    (["sample", "{root}/digits", "--attr", "Smiling=1", "--out", "{tmp}/x.png"], "--attr: this generator is uncond"),
    (["sample", "{root}/ring", "--out", "{tmp}/nest/a/b/"], "a folder of PNGs needs image samples"),
    (["train", "{files}/dup_key.yaml"], "(line 4, column 3): duplicate key 'steps'"),
    (["study", "run", "{root}/study", "--all", "--executor", "nosuch_module:run"], "--executor: cannot load"),
    (["study", "run", "{root}/study", "--all", "--executor", "nocolon"], "expected MODULE:FUNCTION"),
]


@pytest.mark.parametrize("argv, fragment", CASES, ids=[" ".join(c[0])[:70] for c in CASES])
def test_bad_input_is_one_clear_line_and_changes_nothing(world, tmp_path, argv, fragment):
    values = {"root": world, "files": world / "files", "tmp": tmp_path}
    args = [a.format(**values) for a in argv]
    if args[0] == "train" and "--out" not in args and "--out=" not in args:
        args += ["--out", str(tmp_path / "run")]
    before_world, before_tmp = snapshot(world), snapshot(tmp_path)
    done = ganscape(*args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert 1 <= len(lines) <= 2, done.stderr
    assert fragment.format(**values) in done.stderr, (fragment, done.stderr)
    assert snapshot(world) == before_world and snapshot(tmp_path) == before_tmp
    assert not (tmp_path / "run").exists()


def test_the_suite_tries_at_least_sixty_bad_inputs():
    assert len(CASES) >= 60


def test_an_eval_extractor_that_cannot_read_the_data_is_refused_before_training(tmp_path):
    """eval.extractor=lenet on 2-D toy data trained 5 steps, then failed at the first evaluation, naming --extractor
    and leaving config.yaml, metrics.jsonl and tb/ without a checkpoint."""
    done = ganscape("train", "ring8", "eval.every=5", "eval.extractor=lenet", "eval.metrics=[fid]", "train.steps=5",
                    "--out", str(tmp_path / "run"))
    assert done.returncode == 2 and "eval.extractor: lenet reads images, but these samples are vectors" in done.stderr
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
