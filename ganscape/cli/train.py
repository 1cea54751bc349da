"""``ganscape train CONFIG [key=value ...] --out RUN_DIR``: train, or resume, one run of any kind."""
from __future__ import annotations

import sys

from ganscape.registry import ConfigError


def register(sub) -> None:
    p = sub.add_parser("train", help="train a run: a GAN, conditional GAN or CycleGAN (resumes an existing RUN_DIR)",
                       description="Train from a YAML file or preset with dotted key=value overrides. Running it "
                                   "again on the same RUN_DIR resumes from the newest checkpoint.")
    p.add_argument("config", help="YAML file or preset name (see `ganscape presets`)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. loss.name=hinge train.steps=2000")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (created, or resumed)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    p.set_defaults(func=run, resumes=resume_hint)


def resume_hint(args) -> str:
    """What running the same command again does after Ctrl-C: resume from the newest checkpoint, or start over when
    the run was stopped before its first one (nothing to resume from)."""
    from ganscape.training.checkpoint import list_checkpoints

    if list_checkpoints(args.out):
        return "resume from its newest checkpoint"
    return "start it over (it was stopped before its first checkpoint; see train.checkpoint_every)"


def run(args) -> int:
    from ganscape.config import load_config
    from ganscape.distributed import is_main_process, launched_world_size, leave
    from ganscape.distributed.consistency import RanksDiverged
    from ganscape.training import DivergenceError, train

    if not args.out.strip():
        raise ConfigError("--out: an empty path would train into the current folder; name the run folder")
    config = load_config(args.config, args.overrides, ranks=launched_world_size())  # the ranks' shares checked first
    try:
        train(config, args.out, show_progress=not args.no_progress)
        main = is_main_process()
    except (DivergenceError, RanksDiverged) as err:
        print(f"ganscape: {err}", file=sys.stderr)
        return 3
    finally:
        leave()  # under torchrun: every rank leaves the process group before exiting
    if main:
        print(f"done: {args.out} (samples in {args.out}/samples, losses in {args.out}/metrics.jsonl)")
    return 0
