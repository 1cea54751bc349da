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
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    if direction:
        p.add_argument("--direction", default="a2b", choices=("a2b", "b2a"),
                       help="translation runs: data -> data_b (a2b) or back")


def positive(value: int, key: str, minimum: int = 1) -> int:
    if value < minimum:
        raise ConfigError(f"{key}: must be >= {minimum}, got {value}")
    return value


def parse_data(text: str | None, key: str) -> dict[str, Any] | None:
    """``mnist`` or ``'{name: mnist, split: test}'`` -> a validated data section."""
    from ganscape.config import parse_yaml
    from ganscape.data import DATASETS

    if text is None:
        return None
    value = parse_yaml(text, key)
    section = {"name": value} if isinstance(value, str) else value
    DATASETS.validate(section, key.lstrip("-"))
    return section
