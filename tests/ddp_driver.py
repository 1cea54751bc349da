"""Run by tests/test_distributed.py under torchrun: trains one run folder (``train`` of the run folder, as ``ganscape
train`` does) and writes what this rank saw to ``OUT/rank-R.pt``: the data indices of every step, its losses on
logging steps, the samples its EMA generator drew (evaluation), and its final parameters and buffers.
``--perturb-at K`` changes one weight of rank 1 after step K (the consistency check must stop the run); ``--nan-at K``
makes rank 1 alone see a non-finite loss at step K (every rank must stop)."""
from __future__ import annotations

import argparse
import sys

import torch

from ganscape.config import load_config
from ganscape.distributed import exit_rank, leave, world
from ganscape.distributed.consistency import RanksDiverged
from ganscape.training import DivergenceError, train
from ganscape.training.callbacks.base import Callback


class Record(Callback):
    """Keeps the indices this rank's sampler hands out, this rank's own losses on logging steps, and how many samples
    the sampling generator (G's EMA average) drew on this rank for evaluation during training."""

    def __init__(self):
        self.indices, self.losses, self.sampled, self.evaluating = [], {}, [], False

    def on_step_end(self, trainer, step, out, logged, last):
        if step == 1:
            trainer.sampling_modules()["G"].register_forward_hook(
                lambda module, inputs, x: self.sampled.append(len(x) if self.evaluating else 0))
            for evaluation in (cb for cb in trainer.callbacks if type(cb).__name__ == "Evaluation"):
                self.count_evaluation(evaluation)
        if logged is not None:
            self.losses[step] = {key: float(value) for key, value in out.items() if key.startswith("loss")}

    def count_evaluation(self, evaluation: Callback) -> None:
        original = evaluation.on_step_end

        def counting(*args):
            self.evaluating = True
            try:
                original(*args)
            finally:
                self.evaluating = False

        evaluation.on_step_end = counting

    def on_attach(self, trainer):
        sampler = trainer.parts.batches.sampler
        original = sampler.indices

        def recording(k):
            out = original(k)
            self.indices.append((k, out.tolist()))
            return out

        sampler.indices = recording


class FlagNaN(Callback):
    """Rank 1 alone sees a non-finite loss at ``step`` (as its own batch could give it)."""

    order = 9  # after the step's losses are folded in, before the divergence check reads them

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, trainer, step, out, logged, last):
        if step == self.step and world()[0] == 1:
            guard = next(cb for cb in trainer.callbacks if type(cb).__name__ == "DivergenceGuard")
            guard.finite = torch.tensor(False)


class Perturb(Callback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, trainer, step, out, logged, last):
        if step == self.step and world()[0] == 1:
            with torch.no_grad():
                next(trainer.parts.G.parameters()).view(-1)[0] += 1e-3


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--out", required=True)
    parser.add_argument("--perturb-at", type=int, default=0)
    parser.add_argument("--nan-at", type=int, default=0)
    args = parser.parse_args()
    record = Record()
    callbacks = [record] + ([Perturb(args.perturb_at)] if args.perturb_at else []) + \
        ([FlagNaN(args.nan_at)] if args.nan_at else [])
    try:
        result = train(load_config(args.config, args.overrides), args.out, show_progress=False, callbacks=callbacks)
        rank = world()[0]
        modules = {**result.parts.modules(), **{f"average of {k}": m for k, m in result.averaged.items()}}
        state = {name: module.state_dict() for name, module in modules.items()}
        torch.save({"indices": record.indices, "state": state, "step": result.step, "losses": record.losses,
                    "sampled": sum(record.sampled)},
                   f"{args.out}/rank-{rank}.pt")
    except (RanksDiverged, DivergenceError) as err:
        print(f"ganscape: {err}", file=sys.stderr)
        return 3
    finally:
        leave()
    return 0


if __name__ == "__main__":
    exit_rank(main())  # as `ganscape train` ends a rank: a normal interpreter exit can abort after a DDP run
