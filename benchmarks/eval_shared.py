"""Evaluation shared by torchrun ranks: the wall time of one evaluation (as ``eval.every`` runs it during training)
with 1 and with more processes, each scoring its share of the samples (``ganscape.metrics.evaluate``).

    python benchmarks/eval_shared.py      # dcgan-digits, n 10,000, FID + KID + IS on LeNet, 1 and 2 ranks
    python benchmarks/eval_shared.py --ranks 1 2 4 8 --device cuda --preset resnet-cifar10 \\
        --extractor inception --inception-weights pt_inception-2015-12-05-6726825d.pth --n 50000

Each rank count starts its own torchrun; every rank builds the preset's untrained generator (the cost of generating
and scoring does not depend on training), evaluates once to build the feature network and the reference statistics
(cached), then times ``--repeats`` evaluations and reports the best, and each rank's peak resident memory (the
process's high-water mark, model and Python included). CPU ranks get one thread each (``OMP_NUM_THREADS=1``), so a
rank count is also a core count; CUDA ranks one GPU each. The values must agree across rank counts up to float
rounding: the table prints them.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from common import machine_line, parse_or_work, run_ranks


def worker(args: argparse.Namespace) -> None:
    """One rank: build the untrained generator, warm the caches, time the evaluations; rank 0 writes the result."""
    import torch

    from ganscape.config import load_config
    from ganscape.distributed import barrier, every_rank, exit_rank, init_from_env, leave, world
    from ganscape.metrics.evaluate import evaluate_sampler
    from ganscape.training.callbacks import eval_mode
    from ganscape.training.gan_parts import build_gan_parts

    init_from_env(cpu=args.device == "cpu")
    config = load_config(args.preset, [f"device={args.device}"])
    parts = build_gan_parts(config)
    sampler = parts.sampler(parts.modules(), 0)
    options = {"inception_weights": args.inception_weights} if args.inception_weights else {}

    def evaluate():
        with eval_mode([sampler.G]):
            return evaluate_sampler(sampler, args.metrics, args.n, extractor=args.extractor, **options)

    evaluate()  # the feature network and the reference statistics, built once and cached
    times = []
    for _ in range(args.repeats):
        barrier()
        start = time.perf_counter()
        values = evaluate()
        if torch.cuda.is_available() and args.device != "cpu":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peaks = every_rank(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # Linux: KiB -> MiB
    if world()[0] == 0:
        Path(args.result).write_text(json.dumps({"seconds": min(times), "peak_mib": peaks,
                                                 "values": {v.metric: v.value for v in values}}))
    leave()
    exit_rank(0)


def run(ranks: int, args: argparse.Namespace, result: Path) -> dict:
    argv = ["--preset", args.preset, "--samples", str(args.n), "--device", args.device, "--extractor", args.extractor,
            "--repeats", str(args.repeats), "--metrics", *args.metrics]
    if args.inception_weights:
        argv += ["--inception-weights", args.inception_weights]
    done = run_ranks(__file__, ranks, str(result), argv)
    if done.returncode:
        sys.exit(f"eval_shared.py: {ranks} rank(s) failed:\n{done.stderr[-3000:]}")
    return json.loads(result.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--preset", default="dcgan-digits")
    parser.add_argument("--n", "--samples", type=int, default=10_000)  # --samples: torchrun takes --n for its own
    parser.add_argument("--metrics", nargs="+", default=["fid", "kid", "is"])
    parser.add_argument("--extractor", default="lenet")
    parser.add_argument("--inception-weights")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parse_or_work(parser, worker)
    if args is None:
        return
    print(machine_line(args.device))
    with tempfile.TemporaryDirectory() as tmp:
        rows = [(ranks, run(ranks, args, Path(tmp) / f"{ranks}.json")) for ranks in args.ranks]
    base = rows[0][1]["seconds"]
    print(f"{args.preset}, n {args.n}, {' '.join(args.metrics)} on {args.extractor}, {args.device}; best of "
          f"{args.repeats}")
    print("| ranks | seconds | speed-up | peak memory of each rank (MiB) | values |\n|---|---|---|---|---|")
    for ranks, got in rows:
        values = ", ".join(f"{name} {value:.6g}" for name, value in sorted(got["values"].items()))
        peaks = ", ".join(f"{peak:.0f}" for peak in got["peak_mib"])
        print(f"| {ranks} | {got['seconds']:.2f} | {base / got['seconds']:.2f}x | {peaks} | {values} |")


if __name__ == "__main__":
    main()
