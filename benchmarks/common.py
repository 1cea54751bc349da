"""What the benchmarks share: where MNIST is, what machine the numbers came from, and how a command with a pool of
training processes stops."""
from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

from ganscape.cli import stop_on_sigterm
from ganscape.paths import data_root


def add_mnist_root(parser: argparse.ArgumentParser, flag: str = "--root") -> None:
    """``--root``: the folder with the official MNIST IDX files (default ``$GANSCAPE_DATA/mnist``)."""
    parser.add_argument(flag, default=str(data_root() / "mnist"),
                        help="folder with the MNIST IDX files (default: $GANSCAPE_DATA/mnist; "
                             "in this repository's CI: ../shared/datasets/mnist)")


def ignore_interrupts() -> None:
    """A pool worker's initializer: Ctrl-C in a terminal sends SIGINT to every process of the command, and each
    worker would print its own traceback; the worker leaves it to the command, whose pool then terminates it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_stoppable(main: Callable[[], None], resume_hint: str = "") -> None:
    """Run a benchmark's ``main`` so that SIGTERM (``kill``, ``timeout``) stops it as Ctrl-C does: the
    ``multiprocessing`` pool it is inside terminates its training processes (which SIGTERM to the parent alone
    would leave training, orphaned), and the command ends with one line and exit status 130, not a traceback."""
    stop_on_sigterm()
    try:
        main()
    except KeyboardInterrupt:
        print(f"interrupted: no run of this command trains on{resume_hint}", file=sys.stderr)
        sys.exit(130)


def machine_line(device: str = "cpu") -> str:
    """One line naming what a benchmark's numbers were measured on, printed first: the CPU's model with the features
    that change its float results (a seeded run repeats to the last digit on one kind of CPU only), the cores this
    process may use, the GPU when ``device`` is CUDA, torch's version, the source commit (``+changes`` when the tree
    differs from it) and the UTC time."""
    import time

    import torch

    cpu = cpu_model()
    flags = cpu_flags()
    kind = ", ".join(name for flag, name in (("avx512f", "AVX-512"), ("amx_tile", "AMX")) if flag in flags)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()  # not on macOS
    where = f"{cpu}{f' ({kind})' if kind else ''}, {cores} cores"
    if str(device).startswith("cuda") and torch.cuda.is_available():
        where += f", GPU {torch.cuda.get_device_name()}"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"machine: {where}; torch {torch.__version__}; ganscape {source_commit()}; {stamp}"


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what ``platform`` knows."""
    for line in cpuinfo_lines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags() -> set[str]:
    for line in cpuinfo_lines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpuinfo_lines() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:  # not Linux
        return []


def source_commit() -> str:
    """The short commit of this checkout, ``+changes`` when its tracked files differ; ``unknown`` outside git."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                 capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+changes" if changed else "")
