"""DeLiGAN's low-data claim on MNIST: Gaussian prior vs learnable mixture prior.

Both arms train the same DCGAN on 500 MNIST images (50 per class, seeded; DeLiGAN's
setting), z_dim 30, the same steps and batch; only ``prior`` differs:

  baseline: {name: gaussian, dim: 30}
  deligan:  {name: deligan, dim: 30, components: 50, sigma_init: 0.2, weight: 1/3}

Each generator is scored with the LeNet digit classifier (trained once on the MNIST test
split, cached): DeLiGAN's modified IS (intra-class diversity, higher is more diverse), IS,
and FID on the classifier's 128-d features against all 10k test images (lower is better).
The 500 training images themselves are scored as a reference row, and the same images blurred (Gaussian, sigma 1
and 2 px) as a control: the modified IS rewards a classifier's uncertainty within a class, so blurred real digits
score higher than sharp ones. Read it as intra-class spread of the classifier's outputs, never as quality alone.

    python benchmarks/deligan_lowdata.py --root ../shared/datasets/mnist
    python benchmarks/deligan_lowdata.py --steps 200 --seeds 1      # quick look
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from common import add_mnist_root, machine_line
from ganscape.config import load_config
from ganscape.metrics import metric_family
from ganscape.metrics.evaluate import evaluate_result, evaluate_samples
from ganscape.training import Trainer

PRIORS = {
    "gaussian": {"name": "gaussian", "dim": 30},
    "deligan": {"name": "deligan", "dim": 30, "components": 50, "sigma_init": 0.2, "weight": 1 / 3},
}
METRICS = ["modified_is", "is", "fid"]
BLUR_SIGMAS = (1.0, 2.0)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """(N, 1, H, W) in [-1, 1] blurred by a separable Gaussian of ``sigma`` px (kernel radius 3 sigma, edge padding)."""
    radius = max(1, round(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernel = torch.exp(-t ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    x = torch.nn.functional.pad(images, (radius, radius, radius, radius), mode="replicate")
    x = torch.nn.functional.conv2d(x, kernel.reshape(1, 1, 1, -1))
    return torch.nn.functional.conv2d(x, kernel.reshape(1, 1, -1, 1))


def config(root: str, prior: dict, seed: int, steps: int, batch: int, width: int) -> dict:
    return {
        "seed": seed, "device": "cpu",
        "data": {"name": "mnist", "root": root, "split": "test", "size": 28, "per_class": 50, "seed": 0},
        "prior": prior,
        "generator": {"name": "dcgan", "ngf": width},
        "discriminator": {"name": "dcgan", "ndf": width},
        "loss": {"name": "nonsaturating"},
        "train": {"steps": steps, "batch_size": batch, "log_every": steps, "checkpoint_every": 0,
                  "sample_every": 0},
    }


def by_output(values) -> dict[str, float]:
    """{mis, is, fid}: the value of each output of the scored metrics."""
    return {metric_family(v.metric): v.value for v in values}


def summary(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.fmean(values):.3f} +- {statistics.pstdev(values):.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_mnist_root(parser)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--width", type=int, default=32, help="ngf = ndf")
    parser.add_argument("--n", type=int, default=2000, help="generated samples scored per run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--real-only", action="store_true", help="score only the real and blurred images (no training)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(machine_line())
    reference = {"name": "mnist", "root": args.root, "split": "test", "size": 28}
    options = {"reference_n": 10000}
    start = time.time()

    real = load_config(config(args.root, PRIORS["gaussian"], 0, 1, args.batch_size, args.width))
    from ganscape.data import build_dataset
    train_images = build_dataset(real["data"]).x
    # the subset is ordered by class; IS splits must each see a mix of classes
    train_images = train_images[torch.randperm(len(train_images), generator=torch.Generator().manual_seed(0))]
    real_scores = by_output(evaluate_samples(train_images, METRICS, len(train_images), reference, "lenet", **options))
    blurred_scores = {sigma: by_output(evaluate_samples(gaussian_blur(train_images, sigma), METRICS, len(train_images),
                                                        reference, "lenet", **options)) for sigma in BLUR_SIGMAS}

    results: dict[str, list[dict[str, float]]] = {name: [] for name in PRIORS}
    for seed in range(0 if args.real_only else args.seeds):
        for name, prior in PRIORS.items():
            t0 = time.time()
            result = Trainer(config(args.root, prior, seed, args.steps, args.batch_size, args.width)).fit()
            scores = by_output(evaluate_result(result, METRICS, args.n, reference=reference, extractor="lenet", seed=1,
                                               **options))
            scores["seconds"] = time.time() - t0
            results[name].append(scores)
            print(f"  seed {seed} {name:8s} {scores}", flush=True)

    print(f"\n# DeLiGAN low-data: MNIST 500 images (50/class, test split), DCGAN ngf=ndf={args.width}, "
          f"z 30, batch {args.batch_size}, {args.steps} steps, Adam 2e-4 (0.5, 0.999), {args.seeds} seeds; "
          f"LeNet (MNIST test) features; {args.n} samples; FID reference: 10k MNIST test images")
    print("| prior | modified IS (mean over classes) | IS | FID (LeNet) | s/run |")
    print("|---|---|---|---|---|")
    for name, runs in results.items():
        if not runs:
            continue
        cells = [summary([r[k] for r in runs]) for k in ("mis", "is", "fid")]
        print(f"| {name} | {' | '.join(cells)} | {statistics.fmean(r['seconds'] for r in runs):.0f} |")
    real_cells = [f"{real_scores[k]:.3f}" for k in ("mis", "is", "fid")]
    print(f"| (the 500 training images) | {' | '.join(real_cells)} | - |")
    for sigma, scores in blurred_scores.items():
        print(f"| (the same, Gaussian blur sigma {sigma:g} px) | "
              f"{' | '.join(f'{scores[k]:.3f}' for k in ('mis', 'is', 'fid'))} | - |")
    print(f"\nwall time: {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
