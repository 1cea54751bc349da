"""Options and helpers shared by the commands that read a run folder."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from ganscape.registry import ConfigError


def writable_file(text: str, suffix: str | None = None) -> str:
    """argparse type of an output file: writable there (checked before any work), with ``suffix`` when given."""
    from ganscape.utils.io import check_writable

    if suffix and Path(text).suffix.lower() != suffix:
        raise argparse.ArgumentTypeError(f"{text}: written as {suffix[1:].upper()}; use a {suffix} file name")
    try:
        check_writable(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def argument_type(check: Callable[[str], str]) -> Callable[[str], str]:
    """An argparse ``type`` from a ``check(text) -> text`` raising ConfigError("--out: ..."): a usage error."""
    def parse(text: str) -> str:
        try:
            return check(text)
        except ConfigError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix("--out: ")) from None
    parse.__name__ = check.__name__
    return parse


MAX_SEED = 2 ** 62  # torch takes seeds below 2**63; the commands derive a few more (seed + 1, seed + 2) from one


def seed(text: str) -> int:
    """argparse type of a random seed: an integer in 0..2**62 (a seed beyond torch's range was a traceback)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer seed") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} is out of range; a seed is in 0..2**62")
    return value


def add_attribute_option(p) -> None:
    p.add_argument("--attr", default=None, metavar="NAME=0|1,...",
                   help="attribute-conditional runs (e.g. CelebA): fix these attributes, e.g. Blond_Hair=1,Smiling=1; "
                        "the others are drawn from real samples' attribute vectors")


def class_or_attributes(args: argparse.Namespace) -> int | dict[str, int] | None:
    """The ``--class`` id, or the ``--attr`` values (a name -> 0|1 mapping), or None."""
    if args.attr is not None and args.label is not None:
        raise ConfigError("--attr: give --class or --attr, not both")
    return parse_attributes(args.attr) if args.attr is not None else args.label


def parse_attributes(text: str) -> dict[str, int]:
    """``Blond_Hair=1,Smiling=0`` -> {"Blond_Hair": 1, "Smiling": 0}."""
    fixed = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or value.strip() not in ("0", "1"):
            raise ConfigError(f"--attr: {item!r}: expected NAME=0 or NAME=1, e.g. Blond_Hair=1,Smiling=1")
        if name.strip() in fixed:
            raise ConfigError(f"--attr: {name.strip()} is given twice; give each attribute once")
        fixed[name.strip()] = int(value)
    if not fixed:
        raise ConfigError("--attr: expected NAME=0|1,... e.g. Blond_Hair=1,Smiling=1")
    return fixed


def png_file(text: str) -> str:
    return writable_file(text, ".png")


def add_run_options(p, out: str, out_type: Callable[[str], str] = png_file, checkpoint: bool = True,
                    direction: bool = False) -> None:
    """``run_dir``, ``--out`` (help ``out``), ``--checkpoint``, ``--no-ema``, ``--device`` (and ``--direction``)."""
    p.add_argument("run_dir")
    p.add_argument("--out", required=True, type=out_type, help=out)
    if checkpoint:
        p.add_argument("--checkpoint", type=int, default=None, metavar="STEP", help="checkpoint step (default: newest)")
    p.add_argument("--no-ema", action="store_true", help="use the raw weights even when EMA weights exist")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="auto: cuda when available")
    if direction:
        p.add_argument("--direction", default=None, choices=("a2b", "b2a"),
                       help="translation runs only: data -> data_b (a2b, the default) or back (b2a)")


MAX_GRID_IMAGES = 10_000  # images in one PNG grid: 10k of 64 px is a 6,400 px square; more is a typo or an .npz


def positive(value: int, key: str, minimum: int = 1) -> int:
    if value < minimum:
        raise ConfigError(f"{key}: must be >= {minimum}, got {value}")
    return value


def grid_size(count: int, what: str) -> None:
    """One PNG grid holds at most MAX_GRID_IMAGES images (``what`` names the options that multiply to ``count``):
    more was an allocation that the kernel's out-of-memory killer ended."""
    if count > MAX_GRID_IMAGES:
        raise ConfigError(f"{what}: {count:,} images in one PNG grid; at most {MAX_GRID_IMAGES:,} (for more samples, "
                          "`ganscape sample --out x.npz` or a folder DIR/)")


def parse_data(text: str | None, key: str) -> dict[str, Any] | None:
    """``mnist`` or ``'{name: mnist, split: test}'`` -> a validated data section."""
    from ganscape.config import parse_yaml
    from ganscape.data import DATASETS

    if text is None:
        return None
    value = parse_yaml(text, key)
    section = {"name": value} if isinstance(value, str) else value
    DATASETS.validate(section, key)
    return section


def add_dissection_options(p, segmenter: bool = True) -> None:
    """``run_dir``, ``--layer`` (repeatable), ``--segmenter`` (with ``segmenter``; repair measures FID and uses
    none), ``--seed``, ``--class``, ``--checkpoint``, ``--raw`` (no EMA), ``--device``: what dissect, intervene and
    repair share."""
    p.add_argument("run_dir")
    p.add_argument("--layer", action="append", default=[], metavar="NAME",
                   help="generator layer (see `ganscape dissect RUN --list-layers`)")
    if segmenter:
        p.add_argument("--segmenter", default="scenes", metavar="scenes|module:function",
                       help="concept segmenter: the built-in scenes U-Net, or your own (see docs/dissection.md)")
    p.add_argument("--seed", type=seed, default=0, help="latent seed")
    p.add_argument("--class", dest="label", type=int, default=None, metavar="K", help="class for conditional G")
    p.add_argument("--checkpoint", type=int, default=None, metavar="STEP", help="checkpoint step (default: newest)")
    p.add_argument("--raw", "--no-ema", dest="raw", action="store_true",
                   help="use the raw weights even when EMA weights exist (--no-ema, as in sample and eval)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="auto: cuda when available")


def open_generator(args):
    """The run's generator sampler (EMA weights unless --raw), refused for runs that are not image GANs."""
    from ganscape.dissection.dissect import require_image_generator
    from ganscape.loading import load_sampler

    sampler = load_sampler(args.run_dir, args.checkpoint, not args.raw, args.device)
    require_image_generator(sampler, args.command)
    if getattr(args, "label", None) is not None:
        sampler.labels(1, args.label)  # a bad --class is refused now, not after the segmenter is built (or trained)
    return sampler


def drawn_from(args, sampler) -> dict[str, Any]:
    """What a dissection command's numbers were measured on, for its JSON file: the run, its step, the weights
    (``ema`` when the run kept an average and ``--raw`` was not given, else ``raw``), the latent seed and the
    ``--class`` (None: classes drawn uniformly, or an unconditional G)."""
    return {"run": str(args.run_dir), "step": sampler.step, "weights": sampler.weights, "seed": args.seed,
            "class": args.label}


def open_segmenter(args, sampler):
    """The ``--segmenter`` for the sampler's images; the built-in scenes U-Net only for 3-channel ones."""
    from ganscape.dissection.segmenter import build_segmenter

    channels = int(sampler.data_meta["shape"][0])
    if args.segmenter == "scenes" and channels != 3:
        raise ConfigError(f"--segmenter scenes: segments RGB scenes; this generator makes {channels}-channel images "
                          "(give a segmenter of your own, module:function, see docs/dissection.md)")
    return build_segmenter(args.segmenter, int(sampler.data_meta["shape"][-1]), sampler.device, channels=channels)


def output_folder(text: str, *files: str) -> Path:
    """``--out`` folder whose ``files`` can be written (checked before any work)."""
    from ganscape.utils.io import check_writable

    folder = Path(text)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--out: {folder} exists and is not a folder")
    for name in files:
        check_writable(folder / name)
    return folder
