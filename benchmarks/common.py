"""What the benchmarks share: where MNIST is, what machine the numbers came from, how a command with a pool of
training processes stops, and how a benchmark runs itself under torchrun."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from typing import Callable

from ganscape.cli import stop_on_sigterm
from ganscape.paths import data_root
from ganscape.utils.environment import describe, environment


def whole_number(low: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number >= ``low``, else argparse's one usage line naming the flag (a 0 or
    negative count was ignored, or failed in a worker with a traceback after other runs had trained)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {value}")
        return value
    parse.__name__ = "whole number"
    return parse


POSITIVE = whole_number(1)


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
    """The line a benchmark prints first: what its numbers were measured on (``ganscape.utils.environment``)."""
    return describe(environment(device))


def parse_or_work(parser: argparse.ArgumentParser, worker: Callable[[argparse.Namespace], None]):
    """A benchmark that launches itself under torchrun: with ``--worker`` (what ``run_ranks`` adds) this process is
    one rank, runs ``worker(args)`` and returns None; else it is the launcher and gets its arguments."""
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return None
    return args


def run_ranks(script: str, ranks: int, result: str, argv: list[str]) -> subprocess.CompletedProcess:
    """``script --worker --result RESULT ARGV`` in ``ranks`` torchrun processes of one thread each (so that a rank
    count is also a core count on a CPU)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(ranks), script,
           "--worker", "--result", str(result), *argv]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
