"""Images/s of `ganscape train` (DCGAN-32 on MNIST) versus a plain hand-written PyTorch loop.

Both use identical networks (built by ganscape's DCGAN factories), the same data tensor,
batch size, Adam settings and non-saturating BCE loss. Each side is timed as a marginal
cost: wall time of a long run minus wall time of a short run, divided by the extra steps,
so start-up (imports, data loading, model building, final checkpoint) cancels out and what
remains is the steady-state cost of a training step including ganscape's logging and
bookkeeping. Runs alternate (plain, ganscape, plain, ...) to spread machine noise evenly.

    python benchmarks/train_throughput.py --mnist-root ../shared/datasets/mnist
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from common import add_mnist_root
from ganscape.config import load_config
from ganscape.data import build_dataset
from ganscape.models import build_discriminator, build_generator
from ganscape.training import train


def ganscape_config(root: str, steps: int, batch: int) -> dict:
    return load_config("dcgan-mnist", [f"data.root={root}", "data.split=test", f"train.steps={steps}",
                                       f"train.batch_size={batch}", "train.ema_decay=0.0", "train.sample_every=0",
                                       "train.checkpoint_every=0", "train.log_every=100"])


def time_ganscape(root: str, steps: int, batch: int) -> float:
    config = ganscape_config(root, steps, batch)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        train(config, Path(tmp) / "run", show_progress=False)
        return time.perf_counter() - start


def time_plain(root: str, steps: int, batch: int) -> float:
    """The reference loop of pytorch/examples/dcgan, written out by hand."""
    start = time.perf_counter()
    torch.manual_seed(0)
    data = build_dataset({"name": "mnist", "root": root, "split": "test", "size": 32}).x
    netG = build_generator({"name": "dcgan", "ngf": 64}, (1, 32, 32), 100)
    netD = build_discriminator({"name": "dcgan", "ndf": 64}, (1, 32, 32))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    perm, pos = torch.randperm(len(data)), 0
    for step in range(steps):
        if pos + batch > len(data):
            perm, pos = torch.randperm(len(data)), 0
        real = data[perm[pos:pos + batch]]
        pos += batch
        fake = netG(torch.randn(batch, 100))
        optD.zero_grad()
        loss_d = (F.binary_cross_entropy_with_logits(netD(real), ones)
                  + F.binary_cross_entropy_with_logits(netD(fake.detach()), zeros))
        loss_d.backward()
        optD.step()
        optG.zero_grad()
        loss_g = F.binary_cross_entropy_with_logits(netD(fake), ones)
        loss_g.backward()
        optG.step()
        if step % 100 == 0:
            loss_d.item(), loss_g.item()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_mnist_root(parser, "--mnist-root")
    parser.add_argument("--short", type=int, default=10, help="steps of the short run")
    parser.add_argument("--long", type=int, default=70, help="steps of the long run")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    extra = args.long - args.short
    rates = {"plain": [], "ganscape": []}
    timers = {"plain": time_plain, "ganscape": time_ganscape}
    time_plain(args.mnist_root, 3, args.batch)  # warm-up: imports, allocator, data file cache
    for rep in range(args.repeats):
        for name in ("plain", "ganscape"):
            t_short = timers[name](args.mnist_root, args.short, args.batch)
            t_long = timers[name](args.mnist_root, args.long, args.batch)
            rate = extra * args.batch / (t_long - t_short)
            rates[name].append(rate)
            print(f"repeat {rep}: {name:8s} {rate:8.1f} images/s  (short {t_short:.2f}s, long {t_long:.2f}s)", flush=True)
    plain, ours = statistics.median(rates["plain"]), statistics.median(rates["ganscape"])
    print(f"\nDCGAN-32 on MNIST, batch {args.batch}, {torch.get_num_threads()} threads, device cpu")
    print(f"plain PyTorch loop : {plain:8.1f} images/s (median of {args.repeats})")
    print(f"ganscape train     : {ours:8.1f} images/s (median of {args.repeats})")
    print(f"ratio ganscape/plain: {ours / plain:.3f}  (target >= 0.95)")


if __name__ == "__main__":
    main()
