"""Shared test fixtures: seeded RNG and one torch thread per test, data that may be absent."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # tests/ helpers (reference_runs) import by name

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """The suite runs on one intra-op thread (module fixtures included), so results do not depend
    on the machine's core count; the count is restored at the end. The README's command uses the
    cores by running one test file per core instead (pytest-xdist, ``-n auto --dist loadfile``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from seed 0 and one thread, whatever the test before it did."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield


def need_data(path: Path, what: str) -> Path:
    """``path`` if it exists; else skip with the reason. CI has every data file the suite uses and
    sets GANSCAPE_REQUIRE_DATA=1: there a missing file fails the test instead of skipping it."""
    if path.exists():
        return path
    message = f"{what} is expected at {path} (see README: test data)"
    if os.environ.get("GANSCAPE_REQUIRE_DATA", "") not in ("", "0"):
        pytest.fail(message + "; GANSCAPE_REQUIRE_DATA is set, so this is an error")
    pytest.skip(message)


@pytest.fixture
def mnist_dir() -> Path:
    need_data(MNIST_DIR / "t10k-images-idx3-ubyte.gz", "the real MNIST test set")
    return MNIST_DIR
