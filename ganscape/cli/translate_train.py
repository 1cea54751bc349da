"""``ganscape translate-train CONFIG [key=value ...] --out RUN_DIR``: train (or resume) a CycleGAN.

A separate command rather than a ``train`` scheme: a translation run has two datasets, two
generators and two discriminators, none of which fit the single-G/D run that ``train``
builds, checkpoints and evaluates.
"""
from __future__ import annotations

import sys


def register(sub) -> None:
    from ganscape.translation.config import preset_names

    p = sub.add_parser("translate-train", help="train an unpaired image-to-image translator (CycleGAN)",
                       description="Train a CycleGAN from a YAML file or preset with dotted key=value overrides; "
                                   "running it again on the same RUN_DIR resumes. "
                                   f"Presets: {', '.join(preset_names())}.")
    p.add_argument("config", help="YAML file or translation preset name")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. train.steps=500 data_b.rotate=90")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (created, or resumed)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from ganscape.training.trainer import DivergenceError
    from ganscape.translation.config import load_translation_config
    from ganscape.translation.trainer import train_translation

    config = load_translation_config(args.config, args.overrides)
    try:
        train_translation(config, args.out, show_progress=not args.no_progress)
    except DivergenceError as err:
        print(f"ganscape: {err}", file=sys.stderr)
        return 3
    print(f"done: {args.out} (samples in {args.out}/samples; translate with `ganscape translate {args.out} ...`)")
    return 0
