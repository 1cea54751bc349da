"""Published mode-coverage tables, reproduced side by side: the PacGAN/VEEGAN toy grid and ring, and Stacked MNIST.

Every toy method of ``toy_modes.METHODS`` is trained on the 25-Gaussian grid and the 8-Gaussian ring over several
seeds and scored with the published protocol (2,500 samples; a sample is high quality within 3 std of its nearest
centre; modes captured; reverse KL of the mode histogram). Stacked MNIST trains a DCGAN and the same DCGAN with a
discriminator packing 2 samples (PacDCGAN2) and counts the digit triples of 26,000 samples among 1,000 (PacGAN
Table 2; ``--stacked-methods`` adds Table 3's rows, a discriminator "1/4" or "1/2 the size of G"). Each row
prints mean +- std over seeds beside the published number; a control row per toy dataset scores 2,500 fresh samples of
the data itself (what a perfect generator reaches).

    python benchmarks/reproduce.py --mnist-root ../shared/datasets/mnist       # default budget (3 seeds): 38-67 min on 2 quiet cores
    python benchmarks/reproduce.py --paper --mnist-root ~/data/mnist         # the papers' budgets: days on CPU
    python benchmarks/reproduce.py --only toy --seeds 5 --methods ns pacgan4   # one part, some methods
    python benchmarks/reproduce.py --only stacked --stacked-set data.size=28 scheme.g_steps=2   # overrides for every run
    python benchmarks/reproduce.py --only stacked --stacked-steps 40000 --stacked-every 5000   # modes every 5k steps
    python benchmarks/reproduce.py --only stacked --stacked-steps 200 --stacked-samples 2600   # a quick check only
    python benchmarks/reproduce.py --paper --out runs/paper --mnist-root ~/data/mnist   # resumable: run it again
    python benchmarks/reproduce.py --paper --only toy --datasets grid25 --methods pacgan4 --seeds 1 \
        --out runs/paper --checkpoint-every 10000 --toy-every 10000   # one paper run, scored every 10k steps
    python benchmarks/reproduce.py ...the same flags... --progress   # where it stands, its scores so far
    python benchmarks/reproduce.py ...the same flags... --first-seed 1   # seed 1 of the same rows, in the same --out

``--out DIR`` trains every run in a run folder under DIR (checkpoints every ``--checkpoint-every`` steps, scores
kept in its ``final_scores.jsonl``): the same command again skips finished runs and resumes killed ones with the
scores of an uninterrupted run, and more seeds train only the new ones (``--first-seed`` trains later seeds alone, on
another machine or beside the first ones). Without it, runs train in memory.

Budgets. Default: the toy networks of ``toy_modes`` (G and D MLP 3x128, batch 512 on the grid and 256 on the ring
(``toy_modes.BATCH``), Adam 1e-3 (0.5, 0.999) unless a method's toy settings say otherwise (``toy_modes.METHODS``:
WGAN-GP and WGAN-clip take their papers' batch, 256 and 64, and optimisers),
G's EMA 0.99 for sampling) for 10,000 steps (the grid alone at 5 seeds
took 98 min with another job running); Stacked MNIST's Table 2 rows in the PacGAN code's setting (below) with its
networks at a quarter of their width (``TABLE2_REDUCED``: G and D 16 wide) for 2,000 steps.
``--paper``: the presets ``grid25-paper`` / ``ring8-paper`` (the PacGAN code's G 4x400 + batch norm, D 3x200
linear-maxout, Adam 1e-4 (0.8), D and G updated simultaneously, batch 100, 400k steps; methods that set their own
scheme, as WGAN-GP's 5 critic steps and E-GAN, keep it); Stacked MNIST's Table 2 rows in the PacGAN code's setting
(preset ``dcgan-stacked-mnist-paper``: the DCGAN-TensorFlow networks at 28 px in the code's [0, 1] pixel range, two G
steps per D step, 100k steps; PacDCGAN2's G normalises each packing slot apart, as the code's two G calls), Table 3's
rows as in the default.
"""
from __future__ import annotations

import argparse
import multiprocessing
import re
import statistics
import sys
import time
from pathlib import Path

import torch

from common import POSITIVE, add_mnist_root, ignore_interrupts, machine_line, run_stoppable
from ganscape.config import forbidden_resume_changes
from ganscape.registry import ConfigError
from ganscape.training.callbacks.folder import ENVIRONMENT_FILE, METRICS_FILE
from ganscape.training.callbacks.progress import format_duration
from ganscape.training.checkpoint import list_checkpoints
from ganscape.training.run_folder import check_resumable, saved_config
from ganscape.utils import io
from ganscape.utils.environment import machine_kind
from ganscape.utils.io import read_jsonl
from toy_modes import (DATASETS, METHODS, base_config, check_configs, configure, kept_scores, mean_std,
                       method_names, overrides_note, own_batches_note, scheduled_records, score_cells, scores_by_step,
                       train_and_score, trained_past, with_packed_batch, with_slot_batch_norm)

# Published numbers (modes / high-quality share / reverse KL; PacGAN's means over 10 trials, VEEGAN's over 5), with
# their table. Methods the papers did not run: "". PacGAN Table 1 also has PacGAN3, which we do not run.
PUBLISHED_TOY = {
    ("grid25", "NS"): "17.3 / 94.8% / 0.70 (PacGAN T1); 3.3 modes (VEEGAN T1)",
    ("grid25", "PacGAN2"): "23.8 / 91.3% / 0.13 (PacGAN T1)",
    ("grid25", "PacGAN4"): "24.8 / 93.6% / 0.04 (PacGAN T1)",
    ("ring8", "NS"): "6.3 / 98.2% / 0.45 (PacGAN T1)",
    ("ring8", "PacGAN2"): "7.9 / 95.6% / 0.07 (PacGAN T1)",
    ("ring8", "PacGAN4"): "7.8 / 95.9% / 0.07 (PacGAN T1)",
}
PUBLISHED_STACKED = {
    "DCGAN": "99.0 / 3.40 (VEEGAN T2); 78.9 +- 6.46 / 4.50 (PacGAN T2, its own DCGAN)",
    "PacDCGAN2": "1000.0 +- 0.00 / 0.06 (PacGAN T2)",
    "DCGAN, D = G/4": "78.5 +- 17.56 / 5.21 (PacGAN T3)", "PacDCGAN2, D = G/4": "484.5 +- 32.99 / 2.61 (PacGAN T3)",
    "DCGAN, D = G/2": "487.7 +- 34.59 / 2.24 (PacGAN T3)", "PacDCGAN2, D = G/2": "840.7 +- 15.92 / 1.00 (PacGAN T3)"}
TOY_DEFAULT = ["NS", "PacGAN2", "PacGAN4", "RSGAN", "RaSGAN", "WGAN-GP", "WGAN-clip", "NS+DeLiGAN", "E-GAN", "T-SGAN"]
# PacGAN Table 3 (after Unrolled GAN's Table 2): a weak discriminator, "1/4" or "1/2 the size of G", with the PacGAN
# code's networks (G ``sndcgan`` ch 8 with 3x3 deconvs: widths 64, 32, 16, 8, its first BN per channel; D
# ``unrolled``: three 3x3 stride-2 convs of ndf 2 or 4 channels doubling), 28 px, z 256-D Gaussian, batch 128, Adam
# 1e-4 for G and 2e-4 for D, betas (0.5, 0.99); 10,000 steps (the code's budget is 500k).
WEAK_D = ["data.size=28", "generator={name: sndcgan, ch: 8, kernel: 3, first_norm: channel}",
          "prior={name: gaussian, dim: 256}",
          "train.batch_size=128", "train.steps=10000", "optim.g.lr=0.0001", "optim.d.lr=0.0002",
          "optim.g.betas=[0.5, 0.99]", "optim.d.betas=[0.5, 0.99]"]
STACKED_METHODS = {"DCGAN": [], "PacDCGAN2": ["discriminator.pack=2"],
                   "DCGAN, D = G/4": [*WEAK_D, "discriminator={name: unrolled, ndf: 2}"],
                   "PacDCGAN2, D = G/4": [*WEAK_D, "discriminator={name: unrolled, ndf: 2, pack: 2}"],
                   "DCGAN, D = G/2": [*WEAK_D, "discriminator={name: unrolled, ndf: 4}"],
                   "PacDCGAN2, D = G/2": [*WEAK_D, "discriminator={name: unrolled, ndf: 4, pack: 2}"]}
STACKED_DEFAULT = ["DCGAN", "PacDCGAN2"]  # PacGAN Table 2's rows, trained in its code's setting (the preset below)
STACKED_PAPER_PRESET = "dcgan-stacked-mnist-paper"
# Table 2's default budget: the code's networks at a quarter of their width (G and D 16 wide: about 16x fewer
# multiply-adds) for 2,000 steps (2% of the code's 100k), scored at the end only.
TABLE2_REDUCED = ["generator.ngf=16", "discriminator.ndf=16", "train.steps=2000", "eval.every=0"]
STACKED_SAMPLES = 26_000


def toy_config(dataset: str, method: str, seed: int, paper: bool, steps: int | None, extra: list[str] = (),
               checkpoint_every: int = 0, device: str = "cpu", every: int = 0) -> dict:
    """The run config of one toy row and seed; ``extra`` overrides (``--set``) follow the method's own.
    ``checkpoint_every`` > 0 (``--out``) keeps the newest checkpoints of that interval. ``device``: see
    ``on_device``. ``every`` > 0 also scores the run every ``every`` steps during training (``--toy-every``) with
    the table's protocol (the modes metric on 2,500 samples, which the paper presets already set)."""
    scoring = [f"eval.every={every}", "eval.metrics=[modes]", "eval.n=2500"] if every else []
    common = [*on_device(device), *checkpointing(checkpoint_every), *scoring, *extra]
    if paper:
        config = configure(f"{dataset}-paper", method, [f"seed={seed}", "train.sample_every=0", *common])
    else:
        config = configure(base_config(dataset, seed, 10_000, None, 1e-3, 0.99), method, common)
    if steps:
        config["train"]["steps"] = steps
    return config


def stacked_config(method: str, seed: int, paper: bool, steps: int | None, mnist_root: str,
                   extra: list[str] = (), every: int = 0, checkpoint_every: int = 0, device: str = "cpu",
                   samples: int = STACKED_SAMPLES) -> dict:
    """The run config of one Stacked MNIST row and seed; ``extra`` overrides (``--stacked-set``) follow the row's.
    ``every`` > 0 also scores the run every ``every`` steps during training (``--stacked-every``; the preset's
    ``eval`` metric, on ``samples`` samples, unless ``extra`` sets them). ``checkpoint_every`` and ``device`` as for
    ``toy_config``."""
    from ganscape.config import load_config
    from ganscape.data.stacked import split_available

    has_mnist = split_available(mnist_root, "train") or split_available(mnist_root, "test")
    data = [f"data.root={mnist_root}"] if has_mnist else ["data={name: stacked_digits, size: 16}"]
    scoring = [f"eval.n={samples}", *([f"eval.every={every}"] if every else [])]
    if method in STACKED_DEFAULT:  # the PacGAN code's Table 2 setting, new triples every trial
        preset, own = STACKED_PAPER_PRESET, [f"data.seed={seed}", *([] if paper else TABLE2_REDUCED)]
    else:  # Table 3's rows: WEAK_D on the DCGAN preset's objective
        preset, own = "dcgan-stacked-mnist", []
    config = with_slot_batch_norm(with_packed_batch(load_config(preset, [
        *data, *own, *STACKED_METHODS[method], *scoring, *on_device(device),
        *checkpointing(checkpoint_every), *extra, f"seed={seed}", "train.sample_every=0"])))
    if steps:
        config["train"]["steps"] = steps
    return config


def on_device(device: str) -> list[str]:
    """The overrides that train a run on ``device`` (``--device``), in float32 NCHW: the published protocols are
    float32, so a GPU run pins it instead of taking the automatic setting (``--set train.precision=...`` still
    overrides it). A CPU config stays as it was before ``--device`` existed, so run folders of earlier commands
    resume (the automatic setting is float32 there)."""
    if device == "cpu":
        return ["device=cpu"]
    return [f"device={device}", "train.precision=fp32", "train.channels_last=false"]


def checkpointing(every: int) -> list[str]:
    """The overrides of a run's checkpoints: none (0, in memory), or every ``every`` steps keeping the newest two."""
    return [f"train.checkpoint_every={every}", "train.keep_checkpoints=2"] if every else ["train.checkpoint_every=0"]


def run_folder(out: str | None, *labels: object) -> Path | None:
    """``OUT/toy/grid25/pacgan4/seed-0``-style run folder of a row's run (None without ``--out``)."""
    if out is None:
        return None
    *parts, seed = labels
    return Path(out).joinpath(*(re.sub(r"[^a-z0-9]+", "-", str(p).lower()).strip("-") for p in parts), f"seed-{seed}")


def check_run_folders(parser: argparse.ArgumentParser, jobs: list[tuple], training: bool = True) -> None:
    """Before anything trains: a run folder holding another config's checkpoints (a resumed run must keep its config),
    or, for a command that trains, one that another process trains in now, is one usage line, not a worker's
    traceback."""
    for config, _, _, run_dir in jobs:
        if run_dir is not None:
            try:
                check_resumable(config, run_dir)
            except ConfigError as error:
                parser.error(f"--out: {error}")
            if training and run_dir.is_dir() and (past := trained_past(run_dir, config)) is not None:
                parser.error(f"--out: {past}")
            if training and run_dir.is_dir() and folder_busy(run_dir):
                parser.error(f"--out: {run_dir}: another process is training this run now; wait for it, or leave "
                             "its seed out of this command (--first-seed, --seeds)")


def run_job(job: tuple) -> dict[str, float]:
    """One run's scores, with ``seconds`` and ``trained`` (0 when its run folder already held its scores)."""
    config, samples, threads, run_dir = job
    torch.set_num_threads(threads)
    if config["device"] != "cpu":
        torch.backends.cudnn.allow_tf32 = False  # float32 convolutions on a GPU, not TF32 (PyTorch's default there)
    t0 = time.time()
    stacked = config["data"]["name"].startswith("stacked")
    kept = kept_scores(run_dir, config, samples) if run_dir is not None else None
    out = kept if kept is not None else train_and_score(config, samples, "stacked_modes" if stacked else None, run_dir)
    return {**out, "seconds": time.time() - t0, "trained": float(kept is None)}


def run_all(jobs: list[tuple], processes: int, labels: list[tuple]) -> list[dict[str, float]]:
    """Results in job order; one progress line per finished run on stderr, naming its ``labels`` (data, method,
    seed)."""
    results: list[dict[str, float] | None] = [None] * len(jobs)
    with multiprocessing.get_context("spawn").Pool(processes, ignore_interrupts) as pool:
        for done, (i, out) in enumerate(pool.imap_unordered(numbered_run, enumerate(jobs)), 1):
            results[i] = out
            *row, seed = labels[i]
            print(f"[{done}/{len(jobs)}] {' '.join(map(str, row))} seed {seed}: "
                  f"{ {k: round(v, 3) for k, v in out.items()} }", file=sys.stderr, flush=True)
    return results


def numbered_run(item: tuple[int, tuple]) -> tuple[int, dict[str, float]]:
    i, job = item
    return i, run_job(job)


def real_sample_scores(dataset: str, seeds: range, n: int = 2500) -> list[dict[str, float]]:
    """The toy protocol's scores of ``n`` fresh draws from the data distribution itself, one draw per seed: what a
    perfect generator scores (the HQ share of a 2-D Gaussian within 3 std, 98.9%; the reverse KL of sampling noise)."""
    from ganscape.data import build_dataset
    from ganscape.metrics.modes import toy_mode_metrics

    scores = []
    for seed in seeds:
        data = build_dataset({**DATASETS[dataset], "n": n, "seed": 1_000 + seed})
        scores.append(toy_mode_metrics(data.x, data.info["centers"], data.info["std"]))
    return scores


def seconds_cell(rows: list[dict[str, float]]) -> str:
    """The mean seconds of the runs trained by this command ("kept" when every run's scores were kept)."""
    trained = [r["seconds"] for r in rows if r["trained"]]
    return f"{statistics.fmean(trained):.0f}" if trained else "kept"


def kept_note(results: list[dict[str, float]], out: str | None) -> str:
    kept = sum(not r["trained"] for r in results)
    return f"; {kept} of {len(results)} runs' scores kept from {out}" if kept else ""


def table_row(dataset: str, method: str, rows: list[dict[str, float]], seconds: str) -> str:
    cells = [dataset, method, PUBLISHED_TOY.get((dataset, method), ""), *score_cells(dataset, rows), seconds]
    return f"| {' | '.join(cells)} |"


def toy_keys(args, methods: list[str]) -> list[tuple[str, str, int]]:
    return [(d, m, s) for d in args.datasets for m in methods for s in seed_range(args, args.seeds)]


def seed_range(args, count: int) -> range:
    """The seeds of a part: ``count`` of them from ``--first-seed`` (0 unless more are added to an earlier table)."""
    return range(args.first_seed, args.first_seed + count)


def seeds_note(args, count: int) -> str:
    """'3 seeds', '1 seed', or '2 seeds (5-6)' and '1 seed (5)' when they do not start at 0."""
    last = args.first_seed + count - 1
    named = "" if not args.first_seed else f" ({args.first_seed})" if count == 1 else f" ({args.first_seed}-{last})"
    return f"{count} seed{'s' if count != 1 else ''}{named}"


def toy_jobs(args, methods: list[str]) -> list[tuple]:
    """(config, samples, threads, run folder) of every toy run, in ``toy_keys`` order."""
    every = args.checkpoint_every if args.out else 0
    return [(toy_config(d, m, s, args.paper, args.steps, args.set, every, args.device, args.toy_every), 2500,
             args.threads, run_folder(args.out, "toy", d, m, s)) for d, m, s in toy_keys(args, methods)]


def stacked_jobs(args) -> list[tuple]:
    """(config, samples, threads, run folder) of every Stacked MNIST run, rows in order, seeds within."""
    every = args.checkpoint_every if args.out else 0
    return [(stacked_config(m, s, args.paper, args.stacked_steps, args.mnist_root, args.stacked_set,
                            args.stacked_every, every, args.device, args.stacked_samples),
             args.stacked_samples, args.threads, run_folder(args.out, "stacked", m, s))
            for m in args.stacked_methods for s in seed_range(args, args.stacked_seeds)]


def toy_table(args, methods: list[str]) -> list[str]:
    keys = toy_keys(args, methods)
    jobs = toy_jobs(args, methods)
    results = run_all(jobs, args.jobs, keys)
    steps = jobs[0][0]["train"]["steps"]
    # the unpacked batch (a PacGAN-m config's is m times larger), as the config sets it (``--paper`` has its own)
    batches = {d: toy_config(d, "NS", 0, args.paper, args.steps, args.set)["train"]["batch_size"]
               for d in args.datasets}
    networks = "paper networks" if args.paper else "toy networks"
    lines = [f"Toy mixtures: {steps} steps, {seeds_note(args, args.seeds)}, {networks}, "
             f"batch {batches}{own_batches_note(methods)} (x m for PacGAN-m)" + overrides_note(args.set)
             + kept_note(results, args.out),
             "", "| data | method | published (modes / HQ / reverse KL) | ganscape modes | ganscape HQ share | "
             "ganscape reverse KL | s/run |", "|---|---|---|---|---|---|---|"]
    for d in args.datasets:
        for m in methods:
            rows = [r for (dd, mm, _), r in zip(keys, results) if (dd, mm) == (d, m)]
            lines.append(table_row(d, m, rows, seconds_cell(rows)))
        lines.append(table_row(d, "(2,500 real samples)", real_sample_scores(d, seed_range(args, args.seeds)), "-"))
    return lines + (toy_trajectory(keys, results) if args.toy_every else [])


def budgets_note(configs: list[dict], rows: list[str]) -> str:
    """'28 px, 2000 steps, G {name: dcgan_tf, ngf: 16}, D {name: dcgan_tf, ndf: 16} (DCGAN, PacDCGAN2); ...': each
    budget and pair of networks (packing aside: the rows name it) with the rows that train with them."""
    budgets: dict[str, list[str]] = {}
    for config, row in zip(configs, rows):
        budget = f"{config['data'].get('size')} px, {config['train']['steps']} steps, {networks_note(config)}"
        budgets.setdefault(budget, []).append(row)
    return "; ".join(f"{budget} ({', '.join(names)})" for budget, names in budgets.items())


def networks_note(config: dict) -> str:
    """'G {name: dcgan_tf, ngf: 16}, D {name: dcgan_tf, ndf: 16}': the configured networks without their packing
    options (``pack``, ``bn_groups``)."""
    from ganscape.config.yaml_io import dump_yaml

    def unpacked(section: dict) -> str:
        return dump_yaml({k: v for k, v in section.items() if k not in ("pack", "bn_groups")}, flow=True).strip()
    return f"G {unpacked(config['generator'])}, D {unpacked(config['discriminator'])}"


def stacked_keys(args) -> list[tuple[str, int]]:
    return [(m, s) for m in args.stacked_methods for s in seed_range(args, args.stacked_seeds)]


def stacked_table(args) -> list[str]:
    keys = stacked_keys(args)
    jobs = stacked_jobs(args)
    results = run_all(jobs, args.jobs, keys)
    budgets = budgets_note([job[0] for job in jobs[::args.stacked_seeds]], args.stacked_methods)
    data = jobs[0][0]["data"]["name"]
    lines = [f"Stacked MNIST: data {data}, {seeds_note(args, args.stacked_seeds)}, {args.stacked_samples} "
             f"samples; {budgets}" + overrides_note(args.stacked_set) + kept_note(results, args.out), "",
             "| method | published (modes / KL) | ganscape modes (of 1000) | ganscape KL to uniform | s/run |",
             "|---|---|---|---|---|"]
    on_mnist = data == "stacked_mnist"  # else the bundled digits: not the papers' data
    for m in args.stacked_methods:
        rows = [r for (mm, _), r in zip(keys, results) if mm == m]
        published = PUBLISHED_STACKED[m] if on_mnist else "(not comparable: bundled digits, not MNIST)"
        lines.append(f"| {m} | {published} | {modes_cell([r['stacked_modes'] for r in rows])} | "
                     f"{mean_std([r['stacked_kl'] for r in rows])} | {seconds_cell(rows)} |")
    return lines + (stacked_trajectory(keys, results) if args.stacked_every else [])


def modes_cell(modes: list[float]) -> str:
    """``mean +- std (per seed)``, e.g. '490.50 +- 489.50 (980, 1)': runs on the edge of collapse spread so widely
    that the mean alone says little."""
    per_seed = f" ({', '.join(f'{v:.0f}' for v in modes)})" if len(modes) > 1 else ""
    return mean_std(modes) + per_seed


def trajectory_table(title: str, label_names: list[str], labels: list[tuple], results: list[dict[str, float]],
                     family: str, cell, last: tuple[str, object] | None = None) -> list[str]:
    """One row per run (``labels``, its label cells under ``label_names``) and a column per step at which any run was
    scored during training (its ``family@step`` keys), holding ``cell(result, step)``; "-" where a run was not scored
    (rows of other budgets; a run whose scores ``--out`` kept from a command without in-training scoring).
    ``last``: (column name, cell) at the run's last scored step."""
    def scored_steps(r: dict[str, float]) -> list[int]:
        return sorted(int(k.split("@")[1]) for k in r if k.startswith(f"{family}@"))

    steps = sorted({step for r in results for step in scored_steps(r)})
    extra = [last[0]] if last else []
    lines = ["", title, "", f"| {' | '.join([*label_names, *map(str, steps), *extra])} |",
             f"|{'---|' * (len(label_names) + len(steps) + len(extra))}"]
    for label, r in zip(labels, results):
        cells = [cell(r, step) if f"{family}@{step}" in r else "-" for step in steps]
        if last:
            cells.append(last[1](r, scored_steps(r)[-1]) if scored_steps(r) else "-")
        lines.append(f"| {' | '.join([*map(str, label), *cells])} |")
    return lines


TRAINED_HERE = "during training (the s/run above includes this scoring):"


def stacked_trajectory(keys: list[tuple[str, int]], results: list[dict[str, float]],
                       when: str = TRAINED_HERE) -> list[str]:
    """Modes of each Stacked MNIST run at every step it was scored (``--stacked-every``) and the KL at the last."""
    return trajectory_table(f"Modes (of 1000) {when}", ["method", "seed"], keys, results, "stacked_modes",
                            lambda r, step: f"{r[f'stacked_modes@{step}']:.0f}",
                            ("KL at the last", lambda r, step: f"{r[f'stacked_kl@{step}']:.2f}"))


def toy_trajectory(keys: list[tuple[str, str, int]], results: list[dict[str, float]],
                   when: str = TRAINED_HERE) -> list[str]:
    """Modes / HQ share / reverse KL of each toy run at every step it was scored (``--toy-every``)."""
    return trajectory_table(f"Modes / HQ share / reverse KL {when}", ["data", "method", "seed"], keys, results, "modes",
                            lambda r, step: f"{r[f'modes@{step}']:.0f} / {100 * r[f'hq_share@{step}']:.1f}% / "
                                            f"{r[f'reverse_kl@{step}']:.3f}")


def recorded_so_far(jobs: list[tuple]) -> list[dict[str, float] | None]:
    """Each job's in-training scores that its run folder holds so far, by ``name@step``, at the steps of the folder's
    own config (which may differ from this command's in what a resume may change: ``--toy-every``, the checkpoint
    interval, ...); None where the folder does not exist yet or holds another run."""
    recorded = []
    for config, _, _, run_dir in jobs:
        saved = saved_config(run_dir)
        same_run = saved is not None and not forbidden_resume_changes(saved, config)
        recorded.append(scores_by_step(scheduled_records(run_dir, saved)) if same_run else None)
    return recorded


def progress_lines(args, methods: list[str]) -> list[str]:
    """``--progress``: where each run of the ``--out`` folder stands and the scores it recorded during training so
    far, for each part that has a folder; trains nothing."""
    when = f"recorded during training so far in {args.out} (this command trained nothing):"
    parts = {"toy": (toy_trajectory, ["data", "method", "seed"], toy_keys(args, methods),
                     lambda: toy_jobs(args, methods)),
             "stacked": (stacked_trajectory, ["method", "seed"], stacked_keys(args), lambda: stacked_jobs(args))}
    lines = []
    for part, (table, label_names, keys, jobs) in parts.items():
        part_jobs = jobs() if args.only in (None, part) else []
        recorded = recorded_so_far(part_jobs)
        if any(r is not None for r in recorded):
            lines += run_states_table(label_names, keys, part_jobs, recorded)
            lines += table(keys, [r or {} for r in recorded], when)
    return lines or [f"No run folder under {args.out} holds these runs yet."]


RATE_INTERVALS = 10  # logged intervals the training rate of ``--progress`` is taken over


def run_states_table(label_names: list[str], keys: list[tuple], jobs: list[tuple],
                     recorded: list[dict[str, float] | None]) -> list[str]:
    """One row per run: ``run_state``'s cells, or "not started" where no folder holds the run yet."""
    columns = [*label_names, "step", "state", "steps/s", "left", "machine"]
    lines = ["", "Where each run stands:", "", f"| {' | '.join(columns)} |", f"|{'---|' * len(columns)}"]
    for label, (config, samples, _, run_dir), same_run in zip(keys, jobs, recorded):
        cells = [*run_state(config, samples, run_dir), machines(run_dir)] if same_run is not None \
            else ["-", "not started", "-", "-", "-"]
        lines.append(f"| {' | '.join([*map(str, label), *cells])} |")
    return lines


def machines(run_dir: Path) -> str:
    """What the run trained on (its ``environment.jsonl``), and from which step when that changed: ``A`` or ``A from
    0; B from 20,000``; "-" for a run started before runs recorded it. Seeded runs repeat only on one machine kind."""
    spans: list[tuple[int, str]] = []
    for start in read_jsonl(run_dir / ENVIRONMENT_FILE):
        kind = machine_kind(start)
        if not spans or spans[-1][1] != kind:
            spans.append((int(start.get("step", 0)), kind))
    if len(spans) < 2:
        return spans[0][1] if spans else "-"
    return "; ".join(f"{kind} from {step:,}" for step, kind in spans)


def run_state(config: dict, samples: int, run_dir: Path) -> list[str]:
    """The step, state, steps/s and left cells of one run folder that holds ``config``'s run: finished (its scores
    kept); training (another process holds the folder: its newest logged or checkpointed step); trained, not scored
    (at its last step: being scored, or scored with other settings, e.g. another sample count); stopped (at the
    newest checkpoint, where the same command resumes it). The rate: steps a second of training time over the last
    ``RATE_INTERVALS`` logged intervals."""
    total = config["train"]["steps"]
    if kept_scores(run_dir, config, samples) is not None:
        return [f"{total:,} of {total:,}", "finished", "-", "-"]
    records = [r for r in read_jsonl(run_dir / METRICS_FILE) if "train_seconds" in r]
    logged = records[-1]["step"] if records else 0
    saved = max(list_checkpoints(run_dir), default=0)
    if max(logged, saved) >= total:
        return [f"{total:,} of {total:,}", "trained, not scored", "-", "-"]
    state, step = ("training", max(logged, saved)) if folder_busy(run_dir) else ("stopped", saved)
    rate = training_rate(records[-1 - RATE_INTERVALS:])
    cells = [f"{step:,} of {total:,}", state]
    return cells + ([f"{rate:.1f}", format_duration((total - step) / rate)] if rate else ["-", "-"])


def training_rate(records: list[dict]) -> float:
    """Steps a second of training time (``train_seconds``) from the first of ``records`` to the last; 0 for fewer
    than two."""
    if len(records) < 2 or records[-1]["train_seconds"] <= records[0]["train_seconds"]:
        return 0.0
    return (records[-1]["step"] - records[0]["step"]) / (records[-1]["train_seconds"] - records[0]["train_seconds"])


def folder_busy(run_dir: Path) -> bool:
    """Another process holds the run folder (trains in it); not a folder this user cannot write to (a read-only
    copy, where nothing trains)."""
    try:
        return io.folder_busy(run_dir)
    except PermissionError:
        return False


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """The command line's arguments and toy method names, every run's config built once and ``--out``'s run folders
    checked: any bad value is one usage line and exit 2 before anything trains (``tests/test_docs_commands.py``
    checks the documented commands with it)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paper", action="store_true", help="the papers' networks and budgets (days on CPU)")
    parser.add_argument("--only", choices=["toy", "stacked"], help="run one part")
    parser.add_argument("--methods", nargs="+", default=TOY_DEFAULT, help=f"toy methods: {', '.join(METHODS)}")
    parser.add_argument("--seeds", type=int, default=3, help="toy seeds (the papers use 10)")
    parser.add_argument("--first-seed", type=int, default=0, metavar="N",
                        help="the first seed of each row, toy and Stacked MNIST (default 0): with --out, adds seeds "
                             "to runs made elsewhere or earlier, e.g. --first-seed 5 --seeds 5 for seeds 5-9")
    parser.add_argument("--steps", type=POSITIVE, help="override the toy budget")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS), help="toy datasets")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides for every toy run, after its method's own (e.g. train.batch_size=256)")
    parser.add_argument("--toy-every", type=int, default=0, metavar="K",
                        help="also score every toy run every K steps (a table of its scores during training)")
    parser.add_argument("--stacked-seeds", type=int, default=2)
    parser.add_argument("--stacked-methods", nargs="+", default=STACKED_DEFAULT, choices=list(STACKED_METHODS),
                        help="Stacked MNIST rows")
    parser.add_argument("--stacked-steps", type=POSITIVE, help="override the Stacked MNIST budget")
    parser.add_argument("--stacked-every", type=int, default=0, metavar="K",
                        help="also score every Stacked MNIST run every K steps (a table of modes during training)")
    parser.add_argument("--stacked-samples", type=int, default=STACKED_SAMPLES, metavar="N",
                        help=f"samples scored per Stacked MNIST run (the protocol's {STACKED_SAMPLES:,}; fewer only "
                             "for a quick check, as the count of modes found grows with it)")
    parser.add_argument("--stacked-set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides for every Stacked MNIST run, after its row's own (e.g. data.size=28)")
    parser.add_argument("--jobs", type=POSITIVE, default=2, help="runs trained in parallel processes")
    parser.add_argument("--threads", type=POSITIVE, default=1, help="torch threads per run")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="where every run trains, in float32 (cuda: all --jobs processes share the GPU)")
    parser.add_argument("--out", metavar="DIR", help="train each run in a run folder under DIR (DIR/toy/grid25/ns/"
                        "seed-0, ...) and keep its scores there: run again, the command skips finished runs, resumes "
                        "killed ones from their newest checkpoint, and more seeds reuse the finished ones")
    parser.add_argument("--checkpoint-every", type=POSITIVE, default=1000, metavar="STEPS",
                        help="with --out: a run's checkpoint interval in steps, what a killed run loses at most")
    parser.add_argument("--progress", action="store_true",
                        help="with --out: print where each run stands (its step; finished, training or stopped; "
                             "its steps a second, the training time left and the machines it trained on) and the "
                             "scores its run folder recorded during training so far (with --toy-every / "
                             "--stacked-every); trains nothing")
    add_mnist_root(parser, "--mnist-root")
    args = parser.parse_args(argv)
    methods = method_names(parser, args.methods)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device: cuda, but no CUDA device is available here; use --device cpu")
    for flag, value in (("--toy-every", args.toy_every), ("--stacked-every", args.stacked_every)):
        if value < 0:
            parser.error(f"{flag}: expected a number of steps >= 0 (0: no scoring during training), got {value}")
    if args.first_seed < 0:
        parser.error(f"--first-seed: expected a seed >= 0, got {args.first_seed}")
    for flag, value in (("--seeds", args.seeds), ("--stacked-seeds", args.stacked_seeds)):
        if value < 1:
            parser.error(f"{flag}: expected at least 1 seed, got {value}")
    if args.stacked_samples < 2:
        parser.error(f"--stacked-samples: expected at least 2 samples, got {args.stacked_samples}")
    if args.only in (None, "toy"):
        check_configs(parser, lambda d, m: toy_config(d, m, 0, args.paper, args.steps, args.set,
                                                      every=args.toy_every),
                      [(d, m) for d in args.datasets for m in methods])
    if args.only in (None, "stacked"):
        from ganscape.data.stacked import split_available
        if not (split_available(args.mnist_root, "train") or split_available(args.mnist_root, "test")):
            print(f"warning: no MNIST files in {args.mnist_root} (--mnist-root): Stacked MNIST trains on the bundled "
                  "stacked digits at 16 px, whose numbers are not comparable with the papers'", file=sys.stderr)
        check_configs(parser, lambda m: stacked_config(m, 0, args.paper, args.stacked_steps, args.mnist_root,
                                                       args.stacked_set, args.stacked_every,
                                                       samples=args.stacked_samples),
                      [(m,) for m in args.stacked_methods])
    if args.progress and not args.out:
        parser.error("--progress: needs --out DIR, the folder of the runs to report")
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        parser.error(f"--out: {args.out} is a file; give a folder (made when missing)")
    if args.out:
        check_run_folders(parser, [*(toy_jobs(args, methods) if args.only in (None, "toy") else []),
                                   *(stacked_jobs(args) if args.only in (None, "stacked") else [])],
                          training=not args.progress)
    return args, methods


def main(argv: list[str] | None = None) -> None:
    args, methods = parse_args(argv)
    if args.progress:
        print("\n".join(progress_lines(args, methods)))
        return
    start = time.time()
    lines = [machine_line(args.device)]
    try:
        if args.only in (None, "toy"):
            lines += toy_table(args, methods) + [""]
        if args.only in (None, "stacked"):
            lines += stacked_table(args) + [""]
    except io.FolderBusy as error:  # another process began training a run after check_run_folders looked
        print("\n".join(lines), end="\n" if lines else "")
        print(f"reproduce.py: error: --out: {error} (it began after this command's check); this command's unfinished "
              "runs stopped at their newest checkpoints, where it resumes them", file=sys.stderr)
        sys.exit(2)
    print("\n".join(lines) + f"wall time: {time.time() - start:.0f} s")


if __name__ == "__main__":
    run_stoppable(main, "; with --out, the same command resumes any unfinished run from its newest checkpoint")
