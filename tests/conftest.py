"""Shared test fixtures."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture
def mnist_dir() -> Path:
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.fail(f"the MNIST test set is expected at {MNIST_DIR} (see README: test data)")
    return MNIST_DIR
