"""What the benchmarks share: where MNIST is, and how a trained run is scored in memory."""
from __future__ import annotations

import argparse

from ganscape.paths import data_root


def add_mnist_root(parser: argparse.ArgumentParser, flag: str = "--root") -> None:
    """``--root``: the folder with the official MNIST IDX files (default ``$GANSCAPE_DATA/mnist``)."""
    parser.add_argument(flag, default=str(data_root() / "mnist"),
                        help="folder with the MNIST IDX files (default: $GANSCAPE_DATA/mnist; "
                             "in this repository's CI: ../shared/datasets/mnist)")
