"""Keeping the ranks of a multi-process run one run: the parameter check and the per-rank random states.

Every rank must hold bit-identical parameters after every step (the same averaged gradients go through the same
optimiser). ``RankSync`` compares a fingerprint of all parameters across ranks every ``train.check_ranks_every`` steps
(and at the end of a fit) and stops the run with ``RanksDiverged`` on every rank if any differs. On checkpoint steps it
also gathers every rank's random state to rank 0, which writes them (``rng_ranks``) so a resumed multi-process run
continues each rank's own stream exactly."""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from ganscape.distributed.data_parallel import gather_to_main, world
from ganscape.runtime import rng_state
from ganscape.training.callbacks.base import ORDER, Callback, due


class RanksDiverged(RuntimeError):
    """The ranks of a multi-process run no longer hold the same parameters."""


def fingerprint(modules: dict[str, nn.Module]) -> torch.Tensor:
    """(3,) float64 summary of every parameter: sum, sum of squares and a position-weighted sum. Equal parameters give
    bit-equal fingerprints; a change to any single value changes them."""
    params = [p.detach().reshape(-1).double() for module in modules.values() for p in module.parameters()]
    flat = torch.cat(params) if params else torch.zeros(1, dtype=torch.float64)
    weights = torch.sin(torch.arange(flat.numel(), device=flat.device, dtype=torch.float64) * 0.61803398875) + 1.5
    return torch.stack([flat.sum(), (flat * flat).sum(), (flat * weights).sum()])


def share_buffers(modules: dict[str, nn.Module]) -> None:
    """Copy rank 0's buffers to every rank (nothing in a single process). DistributedDataParallel does this before
    each forward, but a forward in training mode then updates batch-norm statistics from the rank's own batch; after
    this the ranks are identical buffers and all (before a check, a checkpoint, the end of a fit, or an evaluation
    the ranks share)."""
    if world()[1] == 1:
        return
    for module in modules.values():
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def check_ranks(modules: dict[str, nn.Module], step: int) -> None:
    """Raise RanksDiverged (on every rank) unless every rank's parameters fingerprint the same as rank 0's."""
    rank, size = world()
    if size == 1:
        return
    mine = fingerprint(modules)
    every = [torch.empty_like(mine) for _ in range(size)]
    dist.all_gather(every, mine)
    bits = [f.view(torch.int64) for f in every]  # bitwise: NaN fingerprints of equal (diverged) ranks are equal
    differing = [r for r in range(1, size) if not torch.equal(bits[r], bits[0])]
    if differing:
        raise RanksDiverged(
            f"ranks differ at step {step}: the parameters of rank(s) {', '.join(map(str, differing))} are not those of "
            f"rank 0 (fingerprints {every[differing[0]].tolist()} vs {every[0].tolist()}); a multi-process run must "
            f"keep every rank identical, so it stops here. Resume from the last checkpoint; if it recurs, report it "
            f"with the run's config")


class RankSync(Callback):
    """Checks parameters across ranks every ``check_every`` steps (0: only at the end of each fit); on those steps and
    on checkpoint steps makes every rank's buffers rank 0's (the averaged copies' too: the EMA copies each rank's own
    batch-norm statistics), and on checkpoint steps gathers the ranks' random states (into ``trainer.rank_rng`` on
    rank 0)."""

    order = ORDER["ranks"]

    def __init__(self, check_every: int, checkpoint_every: int):
        self.check_every, self.checkpoint_every = check_every, checkpoint_every

    def on_step_end(self, trainer, step, out, logged, last) -> None:
        if due(step, self.check_every, last) or due(step, self.checkpoint_every, last):
            share_buffers({**trainer.parts.modules(), **{f"average of {k}": m for k, m in trainer.averaged.items()}})
        if due(step, self.check_every, last):
            check_ranks(trainer.parts.modules(), step)
        if due(step, self.checkpoint_every, last):
            trainer.rank_rng = gather_to_main(rng_state())
