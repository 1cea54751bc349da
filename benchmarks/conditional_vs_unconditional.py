"""Conditional vs unconditional DCGAN on MNIST-test at one fixed CPU budget (same steps,
same layer plan and widths). Prints, per model: class agreement (share of samples asked for
class k that the LeNet digit classifier labels k; unconditional models get uniform random
"requests", so chance = 0.10) and FID on LeNet features against MNIST-test.

    python benchmarks/conditional_vs_unconditional.py [--steps 600] [--root ../shared/datasets/mnist]

Numbers are for this budget only, and wall-clock timings are noisy on a shared machine.
"""
from __future__ import annotations

import argparse
import time

import torch

from common import add_mnist_root, machine_line
from ganscape.features.lenet import digit_classifier
from ganscape.metrics.evaluate import evaluate_result
from ganscape.training import Trainer
from ganscape.training.callbacks import eval_mode

VARIANTS = {
    "unconditional dcgan": ["generator.name=dcgan", "discriminator.name=dcgan"],
    "cdcgan + projection D": ["generator.name=cdcgan", "discriminator.name=cdcgan",
                              "discriminator.conditioning=projection"],
    "cdcgan + AC-GAN D": ["generator.name=cdcgan", "discriminator.name=cdcgan", "discriminator.conditioning=acgan"],
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=600)
    add_mnist_root(p)
    p.add_argument("--n", type=int, default=2000, help="samples per evaluation")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_line())
    data = {"name": "mnist", "root": args.root, "split": "test", "size": 28}
    classifier = digit_classifier(data)
    print(f"classifier {classifier.tag}: held-out accuracy {classifier.accuracy:.4f}")
    base = [f"train.steps={args.steps}", "train.batch_size=64", "train.ema_decay=0.0", "train.sample_every=0",
            f"train.checkpoint_every={args.steps}", "train.log_every=100", "device=cpu", "prior.dim=64"]
    print(f"{'model':26s} {'steps':>6s} {'train s':>8s} {'agree':>7s} {'FID(lenet)':>11s}")
    for name, overrides in VARIANTS.items():
        overrides = base + overrides + ["generator.ngf=32", "discriminator.ndf=32", f"data.root={args.root}",
                                        "data.split=test", "data.size=28"]
        start = time.time()
        result = Trainer("dcgan-mnist", overrides).fit()
        seconds = time.time() - start
        sampler = result.sampler()
        labels = torch.arange(args.n) % 10
        with eval_mode([sampler.G]):
            x = sampler.sample(args.n, seed=1, labels=labels if sampler.num_classes else None)
        agree = (classifier.logits(x).argmax(1) == labels).float().mean().item()
        fid = evaluate_result(result, ["fid"], args.n, reference=data, seed=1)[0].value
        print(f"{name:26s} {args.steps:6d} {seconds:8.1f} {agree:7.3f} {fid:11.2f}", flush=True)


if __name__ == "__main__":
    main()
