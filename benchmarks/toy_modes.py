"""Mode coverage of each training idea on the 2-D toy mixtures (PacGAN protocol).

Trains every method with the same 3x128 MLP G and D, optimiser and number of steps (each method's own part with
the settings of its paper's toy code where there is one, see METHODS), on the 25-Gaussian grid and the 8-Gaussian
ring, over several seeds,
then prints modes captured, high-quality share and reverse KL (ganscape.metrics.modes)
on 2,500 samples per run.

    python benchmarks/toy_modes.py                    # the full table (10k steps, 3 seeds, 2 processes: about an hour on 2 cores)
    python benchmarks/toy_modes.py --steps 200 --seeds 1 --methods ns rsgan

Each run is ganscape's trainer core on a config (``Trainer(config).fit()``), without a run
folder, so the timing is the training; the scores are ``evaluate_result`` with ``modes``.
"""
from __future__ import annotations

import argparse
import math
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

import torch

from common import POSITIVE, ignore_interrupts, machine_line, run_stoppable, whole_number
from ganscape.config import load_config
from ganscape.config.dotted import forbidden_resume_changes, set_dotted
from ganscape.config.validate import groups_batch_norm
from ganscape.data import build_dataset
from ganscape.metrics import metric_family
from ganscape.models import DISCRIMINATORS, GENERATORS
from ganscape.registry import ConfigError
from ganscape.metrics.evaluate import evaluate_result
from ganscape.results import RESULTS_FILE, ResultsWriter, read_results
from ganscape.training import Trainer, train
from ganscape.training.run_folder import saved_config

HIDDEN = 128
SCORES_FILE = "final_scores.jsonl"  # a run folder's protocol scores (``train_and_score``)


def pair_critic(encoder_norm: str) -> str:
    """The override selecting the T-GAN pair critic D(E(x_r) - E(x_f)) with an MLP encoder E of the toy width."""
    return (f"discriminator={{name: pair, hidden: {HIDDEN}, "
            f"encoder: {{name: mlp, hidden: {HIDDEN}, layers: 3, norm: {encoder_norm}}}}}")


# Each method is a list of config overrides (``key=value``, as on the command line) on the base config. Each objective
# or penalty uses the settings its own paper uses on toy data: WGAN-GP the penalty weight 0.1, 5 critic steps, Adam
# betas (0.5, 0.9) and batch 256 of the authors' toy script (at 512 on the grid: the same 25 modes and 92.6% high
# quality, 1.5x the time), WGAN with weight clipping RMSProp 5e-5, 5 critic steps and the paper's batch 64. A packed
# discriminator (PacGAN-m) sees batch_size / m packed inputs, so ``configure`` makes the batch m times larger (the
# PacGAN code draws m generator batches per step).
FIVE_CRITIC_STEPS = "scheme={name: alternating, n_critic: 5}"  # the whole section: --paper's base trains simultaneously
METHODS: dict[str, list[str]] = {
    "NS": [],
    "PacGAN2": ["discriminator.pack=2"],
    "PacGAN4": ["discriminator.pack=4"],
    "hinge": ["loss.name=hinge"],
    "RSGAN": ["loss.name=rsgan"],
    "RaSGAN": ["loss.name=rasgan"],
    "WGAN-GP": ["loss.name=wgan", "penalty.name=wgan_gp", "penalty.weight=0.1", FIVE_CRITIC_STEPS,
                "optim.g.betas=[0.5, 0.9]", "optim.d.betas=[0.5, 0.9]", "train.batch_size=256"],
    "WGAN-clip": ["loss.name=wgan", "penalty.name=weight_clip", "penalty.c=0.01", FIVE_CRITIC_STEPS,
                  "optim.g={name: rmsprop, lr: 5.0e-5}", "optim.d={name: rmsprop, lr: 5.0e-5}", "train.batch_size=64"],
    # T-SGAN needs no Lipschitz bound, and a spectral-norm encoder (Lipschitz <= 1) cannot separate points 0.01 apart
    # sharply: with it no ring sample was high quality (0/8 modes, 2 seeds); unnormalised, 8/8 at 97% high quality.
    # It takes the common lr 1e-3: at 5e-4 (the ring8-tgan preset's former lr) only 65% of grid samples were high
    # quality (94% at 1e-3, 10k steps, 5 seeds). T-WGAN keeps spectral norm (its critic must be Lipschitz) and 5e-4.
    "T-SGAN": ["loss.name=tsgan", pair_critic("none")],
    "T-WGAN": ["loss.name=twgan", pair_critic("spectral"), "optim.g.lr=5e-4", "optim.d.lr=5e-4"],
    "E-GAN": ["scheme={name: egan, parents: 1, gamma: 1.0}"],
    "NS+DeLiGAN": ["prior={name: deligan, dim: 2, components: 50, sigma_init: 0.02, weight: 0.1}"],
}
ALIASES = {name.lower().replace("-", "").replace("+", ""): name for name in METHODS}
DATASETS = {"grid25": {"name": "grid25"}, "ring8": {"name": "ring8"}}
# The default batch per dataset: about 20 or more samples per mode in every batch. With 256 on the 25-mode grid (about
# 10 per mode) the NS GAN kept 23.0 +- 1.8 modes at 10k steps (5 seeds); with 512, 24.6 +- 0.8 at 95% high quality.
# The 8-mode ring has 32 per mode at 256.
BATCH = {"grid25": 512, "ring8": 256}


def base_config(dataset: str, seed: int, steps: int, batch_size: int | None, lr: float, ema: float) -> dict:
    """The toy run config of every method before its overrides; ``batch_size`` None is the dataset's ``BATCH``
    (a method with its own batch, like WGAN-GP, overrides it: see ``batch_overrides`` to set every method's)."""
    return {
        "seed": seed, "device": "cpu", "data": DATASETS[dataset],
        "prior": {"name": "gaussian", "dim": 2},
        "generator": {"name": "mlp", "hidden": HIDDEN, "layers": 3},
        "discriminator": {"name": "mlp", "hidden": HIDDEN, "layers": 3},
        # named, so that a method choosing another optimiser (WGAN-clip: RMSProp) replaces the section, betas included
        "optim": {"g": {"name": "adam", "lr": lr, "betas": [0.5, 0.999]},
                  "d": {"name": "adam", "lr": lr, "betas": [0.5, 0.999]}},
        "train": {"steps": steps, "batch_size": batch_size or BATCH[dataset], "ema_decay": ema, "log_every": steps,
                  "checkpoint_every": 0, "sample_every": 0},
    }


def configure(base: dict | str, method: str, extra: list[str] = ()) -> dict:
    """The run config of ``method`` on ``base`` (a config dict or a preset name), then ``extra`` overrides; a packed
    discriminator's batch grows by its pack, and a batch-norm generator normalises each packing slot on its own."""
    return with_slot_batch_norm(with_packed_batch(load_config(base, [*METHODS[method], *extra])))


def own_batches() -> dict[str, int]:
    """The methods of METHODS that set their own batch (their paper's), with it."""
    return {m: int(o.split("=")[1]) for m, overrides in METHODS.items() for o in overrides
            if o.startswith("train.batch_size=")}


def own_batches_note(methods: list[str]) -> str:
    """", WGAN-GP 256, WGAN-clip 64": the own batches of those ``methods`` that have one, for a table header."""
    return "".join(f", {m} {b}" for m, b in own_batches().items() if m in methods)


def batch_overrides(batch_size: int | None) -> list[str]:
    """The override giving every method ``batch_size`` (after the method's own batch); none for None."""
    return [f"train.batch_size={batch_size}"] if batch_size else []


def with_packed_batch(config: dict) -> dict:
    """``config`` with ``train.batch_size`` times ``discriminator.pack``: the batch counts the discriminator's packed
    inputs, as in the PacGAN code."""
    pack = DISCRIMINATORS.shared_options(config["discriminator"])["pack"]
    return set_dotted(config, "train.batch_size", config["train"]["batch_size"] * pack)


def with_slot_batch_norm(config: dict) -> dict:
    """``config`` with a batch-norm generator's ``bn_groups`` (an MLP's with norm batch, ``dcgan_tf``'s) set to
    ``discriminator.pack`` unless the config sets it: the PacGAN code draws a PacGAN-m batch with m generator calls, so
    its batch norm sees one slot at a time. (A generator without a ``norm`` option that has ``bn_groups`` always
    normalises.)"""
    pack, generator = DISCRIMINATORS.shared_options(config["discriminator"])["pack"], config["generator"]
    if pack == 1 or "bn_groups" in generator or not groups_batch_norm(generator, GENERATORS):
        return config
    return set_dotted(config, "generator.bn_groups", pack)


def train_and_score(config: dict, n_samples: int, metric: str | dict | None = None,
                    run_dir: str | Path | None = None) -> dict[str, float]:
    """The outputs of ``metric`` (default: ``modes``, i.e. modes, hq_share, reverse_kl) on ``n_samples`` from the
    trained sampling generator, by output name; with ``eval.every`` > 0 also the values recorded during training, as
    ``name@step`` (e.g. ``stacked_modes@5000``).

    Without ``run_dir`` the run trains in memory. With it, the run trains in that run folder (``ganscape.training.
    train``: checkpoints, and a killed run resumes from its newest one as if never stopped) and its scores are kept in
    ``RUN_DIR/final_scores.jsonl`` (the one results schema); a folder that holds this config's scores at its last step
    is not trained again, its kept scores are returned."""
    metric = metric or {"name": "modes", "n": n_samples}
    if run_dir is None:
        result = Trainer(config).fit()
        during = result.results
    else:
        kept = kept_scores(Path(run_dir), config, n_samples)
        if kept is not None:
            return kept
        if (past := trained_past(Path(run_dir), config)) is not None:
            raise ConfigError(past)
        result = train(config, run_dir, show_progress=False)
        during = scheduled_records(Path(run_dir), config)
    scores = evaluate_result(result, [metric], n_samples, seed=None)
    if run_dir is not None:
        ResultsWriter(Path(run_dir) / SCORES_FILE).write((v.record(str(run_dir), result.step) for v in scores),
                                                         replace_existing=True)
    return {**scores_by_name(scores), **scores_by_step(during)}


def trained_past(run_dir: Path, config: dict) -> str | None:
    """Why ``run_dir`` cannot give ``config``'s scores: it holds a run trained past ``train.steps`` (training it
    again does nothing, and its scores would stand under the shorter budget); None when it does not."""
    from ganscape.training.checkpoint import list_checkpoints

    steps, done = config["train"]["steps"], max(list_checkpoints(run_dir), default=0)
    if done <= steps:
        return None
    return (f"{run_dir} holds a run trained to step {done}, past this command's {steps} steps; its scores are "
            "not those of the shorter budget: give its own budget, or another --out folder")


def scores_by_name(values) -> dict[str, float]:
    """Metric values or records by output name (``modes``, ``hq_share``, ...)."""
    return {metric_family(v.metric): v.value for v in values}


def scores_by_step(records) -> dict[str, float]:
    """In-training records by ``name@step`` (``stacked_modes@5000``); a step scored twice keeps its last record."""
    return {f"{metric_family(r.metric)}@{r.step}": r.value for r in records}


def kept_scores(run_dir: Path, config: dict, n_samples: int) -> dict[str, float] | None:
    """The scores ``train_and_score`` kept in ``run_dir`` for exactly ``config`` after its last step, with the
    in-training records (None when the folder holds another config, or the run has not finished and been scored)."""
    saved, config = saved_config(run_dir), load_config(config)
    if saved is None or saved["train"]["steps"] != config["train"]["steps"] or forbidden_resume_changes(saved, config):
        return None  # another run; a change a resume may make (scoring, checkpoints) leaves the trained run as it is
    final = [r for r in read_results(run_dir / SCORES_FILE) if r.step == config["train"]["steps"] and r.n == n_samples]
    if not final:
        return None
    return {**scores_by_name(final), **scores_by_step(scheduled_records(run_dir, config))}


def scheduled_records(run_dir: Path, config: dict) -> list:
    """The run folder's in-training records at the steps an uninterrupted run scores (every ``eval.every`` steps and
    the last); a fit that was stopped early also scored where it stopped."""
    every, steps = config["eval"]["every"], config["train"]["steps"]
    return [r for r in read_results(run_dir / RESULTS_FILE) if r.step == steps or (every and r.step % every == 0)]


def run_config(dataset: str, method: str, seed: int, args: argparse.Namespace) -> dict:
    """The config of one run from the command line: the method's settings, then --batch-size, then --set."""
    return configure(base_config(dataset, seed, args.steps, None, args.lr, args.ema), method,
                     [*batch_overrides(args.batch_size), *args.set])


def one_run(job: tuple) -> dict[str, float]:
    dataset, method, seed, args = job
    torch.set_num_threads(args.threads)
    config = run_config(dataset, method, seed, args)
    t0 = time.time()
    out = train_and_score(config, args.samples)
    out["seconds"] = time.time() - t0
    print(f"{dataset} {method} seed {seed}: {out['modes']:.0f} modes, {100 * out['hq_share']:.2f}% HQ, "
          f"reverse KL {out['reverse_kl']:.4f}, {out['seconds']:.0f} s", file=sys.stderr, flush=True)
    return out


def method_names(parser: argparse.ArgumentParser, given: list[str]) -> list[str]:
    """The METHODS keys of ``--methods`` values (case, '-' and '+' ignored); an unknown one is a usage error."""
    methods = []
    for m in given:
        key = m.lower().replace("-", "").replace("+", "")
        if key not in ALIASES:
            parser.error(f"--methods: unknown method {m!r}; valid: {', '.join(METHODS)}")
        methods.append(ALIASES[key])
    return methods


def check_configs(parser: argparse.ArgumentParser, build, keys) -> None:
    """Build the config of every key (``build(*key)``) before any run trains: a bad ``--set`` override is one usage
    line and exit 2, not a traceback from a worker after other runs have spent their time."""
    for key in keys:
        try:
            build(*key)
        except ConfigError as error:
            parser.error(str(error))


def overrides_note(overrides: list[str], label: str = "overrides") -> str:
    """The suffix naming a table's ``--set`` overrides in its header ('' when there are none)."""
    return f"; {label}: {' '.join(overrides)}" if overrides else ""


def mean_std(values: list[float], digits: int = 2) -> str:
    """``mean +- std`` (population std) of the finite values, with ``digits`` decimals; infinite ones are counted."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "inf"
    m = statistics.fmean(finite)
    s = statistics.pstdev(finite) if len(finite) > 1 else 0.0
    note = "" if len(finite) == len(values) else f" ({len(values) - len(finite)} inf)"
    return f"{m:.{digits}f} +- {s:.{digits}f}{note}"


def score_cells(dataset: str, results: list[dict[str, float]]) -> list[str]:
    """The table cells of runs' toy scores: modes captured (of the dataset's mode count), HQ share in %, reverse KL."""
    total = len(build_dataset({**DATASETS[dataset], "n": 1}).info["centers"])
    return [f"{mean_std([r['modes'] for r in results])} / {total}",
            f"{mean_std([100 * r['hq_share'] for r in results])}%",
            mean_std([r["reverse_kl"] for r in results], digits=3)]


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """The command line's arguments and method names, every run's config built once: any bad value is one usage
    line and exit 2 before anything trains (``tests/test_docs_commands.py`` checks the documented commands with it)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=POSITIVE, default=10_000)
    parser.add_argument("--seeds", type=POSITIVE, default=3)
    parser.add_argument("--batch-size", type=POSITIVE, help=f"every method's batch (default per dataset: {BATCH}; "
                        f"methods with their paper's own: {own_batches()})")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--ema", type=float, default=0.99, help="EMA decay of G's weights used for sampling (0 = off)")
    parser.add_argument("--samples", type=whole_number(2), default=2500)
    parser.add_argument("--threads", type=POSITIVE, default=1, help="torch threads per run")
    parser.add_argument("--jobs", type=POSITIVE, default=2, help="runs trained in parallel processes")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides applied to every method, after its own (e.g. schedule.name=cosine)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS),
                        help=f"any of: {', '.join(METHODS)} (case and -/+ ignored)")
    args = parser.parse_args(argv)
    methods = method_names(parser, args.methods)
    check_configs(parser, lambda d, m: run_config(d, m, 0, args), [(d, m) for d in args.datasets for m in methods])
    return args, methods


def main(argv: list[str] | None = None) -> None:
    args, methods = parse_args(argv)
    torch.set_num_threads(args.threads)
    print(machine_line())

    batch = args.batch_size or f"{BATCH}{own_batches_note(methods)}"
    print(f"# toy modes: {args.steps} steps, batch {batch} (x m for PacGAN-m), "
          f"Adam lr {args.lr} (0.5, 0.999) "
          "unless the method says otherwise (WGAN-GP, WGAN-clip: 5 critic steps; WGAN-GP betas (0.5, 0.9); "
          "WGAN-clip RMSProp 5e-5), "
          f"EMA of G {args.ema}, G and D MLP 3x{HIDDEN}, z = 2-D, {args.seeds} seeds, {args.samples} samples; "
          "data: PacGAN settings (grid25 spacing 2 std 0.05; ring8 radius 1 std 0.01)"
          + overrides_note(args.set, "overrides for every method"))
    start = time.time()
    jobs = [(d, m, seed, args) for d in args.datasets for m in methods for seed in range(args.seeds)]
    if args.jobs > 1:
        with multiprocessing.get_context("spawn").Pool(args.jobs, ignore_interrupts) as pool:
            results = pool.map(one_run, jobs, chunksize=1)
    else:
        results = [one_run(job) for job in jobs]
    rows = []
    for i, dataset in enumerate(args.datasets):
        for j, method in enumerate(methods):
            k = (i * len(methods) + j) * args.seeds
            chunk = results[k:k + args.seeds]
            rows.append((dataset, method, chunk, statistics.fmean(r["seconds"] for r in chunk)))
    print()
    print("| data | method | modes captured | high-quality share | reverse KL (nats) | s/run |")
    print("|---|---|---|---|---|---|")
    for dataset, method, results, seconds in rows:
        print(f"| {dataset} | {method} | {' | '.join(score_cells(dataset, results))} | {seconds:.1f} |")
    print(f"\nwall time: {time.time() - start:.0f} s")


if __name__ == "__main__":
    run_stoppable(main)
