"""Which objectives and penalties give the one-process step under DistributedDataParallel: D's gradient with W ranks,
each holding its share of one batch, against the gradient of one process on the whole batch.

    python benchmarks/ddp_batch_statistics.py               # 2 gloo ranks, 64 samples, an MLP critic
    python benchmarks/ddp_batch_statistics.py --ranks 4 --batch 256

DDP averages the ranks' gradients, which equals the whole batch's gradient when the loss is a mean of per-sample
terms. A loss that uses a statistic of the batch (the relativistic average objectives' mean score of the other side,
DRAGAN's perturbation scale, the standard deviation of the real batch) takes it over each rank's share instead, so
the step differs: the table prints |g_ranks - g_one| / |g_one| per objective and penalty. The penalties' uniform
draws (DRAGAN's noise, WGAN-GP's interpolation weights) are drawn once for the whole batch and handed to each rank as
its rows, so only a batch statistic can differ.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path

from common import machine_line, parse_or_work, run_ranks

OBJECTIVES = ("nonsaturating", "hinge", "wgan", "least_squares", "rasgan", "ralsgan", "rahinge")
PENALTIES = ("wgan_gp", "dragan", "r1")  # each added to the non-saturating loss


@contextlib.contextmanager
def fixed_uniform(rows):
    """While inside, the penalties' uniform draws are ``rows`` (B, 2): ``torch.rand_like`` (DRAGAN's noise) all of
    it, ``torch.rand`` (WGAN-GP's interpolation weights, (B, 1)) its first column."""
    import torch

    real_like, real_rand = torch.rand_like, torch.rand
    torch.rand_like = lambda like, **kw: rows.to(like.dtype)
    torch.rand = lambda *shape, **kw: rows[:, :1].reshape(*shape).clone()
    try:
        yield
    finally:
        torch.rand_like, torch.rand = real_like, real_rand


def worker(args: argparse.Namespace) -> None:
    """One rank: per part, the one-process gradient (computed here on the whole batch) and the DDP one."""
    import torch

    from ganscape.distributed import ddp_wrapper, exit_rank, init_from_env, leave, world
    from ganscape.losses import build_objective
    from ganscape.penalties import build_penalty
    from ganscape.training.precision import FP32
    from ganscape.training.wrappers import training_view

    init_from_env(cpu=True)
    rank, size = world()
    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    forward = lambda module: (lambda x, y=None: module(x).squeeze(1))  # noqa: E731 - (B, 2) -> (B,) scores
    real, fake = torch.randn(args.batch, 2) + 1, torch.randn(args.batch, 2)
    noise = torch.rand(args.batch, 2, generator=torch.Generator().manual_seed(5))
    share = slice(rank * args.batch // size, (rank + 1) * args.batch // size)
    view = training_view(critic, "D", FP32, False, ddp_wrapper(torch.device("cpu")))
    errors = {}
    for name in (*OBJECTIVES, *PENALTIES):
        if name in PENALTIES:  # with the non-saturating loss, as D trains with it: every parameter gets a gradient
            penalty, objective = build_penalty({"name": name}), build_objective({"name": "nonsaturating"})
            loss = lambda d, rows: (fixed_uniform(noise[rows]), lambda: objective.d_loss(  # noqa: E731
                *objective.critic_scores(d, real[rows], fake[rows], None, None)) + penalty(d, real[rows], fake[rows]))
        else:
            objective = build_objective({"name": name})
            loss = lambda d, rows: (contextlib.nullcontext(),  # noqa: E731
                                    lambda: objective.d_loss(*objective.critic_scores(d, real[rows], fake[rows],
                                                                                      None, None)))
        context, value = loss(forward(critic), slice(0, args.batch))
        with context:
            one = torch.autograd.grad(value(), list(critic.parameters()), allow_unused=True)
        context, value = loss(forward(view), share)
        with context:
            value().backward()
        ranks = [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in critic.parameters()]
        critic.zero_grad(set_to_none=True)
        one = [g if g is not None else torch.zeros_like(p) for g, p in zip(one, critic.parameters())]
        diff = sum(((a - b) ** 2).sum() for a, b in zip(ranks, one)) ** 0.5
        errors[name] = float(diff / sum((b ** 2).sum() for b in one) ** 0.5)
    if rank == 0:
        Path(args.result).write_text(json.dumps(errors))
    leave()
    exit_rank(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    args = parse_or_work(parser, worker)
    if args is None:
        return
    if args.batch % args.ranks:
        sys.exit(f"--batch: {args.batch} is not divisible by --ranks {args.ranks}")
    print(machine_line("cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "errors.json"
        done = run_ranks(__file__, args.ranks, str(result), ["--batch", str(args.batch)])
        if done.returncode:
            sys.exit(f"ddp_batch_statistics.py: the ranks failed:\n{done.stderr[-3000:]}")
        errors = json.loads(result.read_text())
    print(f"D's gradient, {args.ranks} gloo ranks of {args.batch // args.ranks} samples against one process of "
          f"{args.batch}: |g_ranks - g_one| / |g_one|")
    print("| objective or penalty | relative difference |\n|---|---|")
    for name, error in errors.items():
        print(f"| {name} | {error:.2e} |")


if __name__ == "__main__":
    main()
