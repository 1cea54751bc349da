"""Where and how computation runs: device resolution, seeding, thread counts, side RNG streams."""
from __future__ import annotations

import contextlib
import hashlib
from typing import Iterator

import torch

from ganscape.registry import ConfigError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str | torch.device, option: str = "device") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a ConfigError naming ``option`` (the
    config key, or a command's ``--device``)."""
    if isinstance(name, torch.device):
        return name
    if name not in DEVICES and not str(name).startswith("cuda:"):
        raise ConfigError(f"{option}: {name!r} is not valid; choose one of {', '.join(DEVICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        how = "--device auto or cpu" if option.startswith("--") else f"{option}=auto or cpu"
        raise ConfigError(f"{option}: 'cuda' requested but no CUDA device is available; use {how}")
    return torch.device(name)


def rng_devices(device: torch.device) -> list[torch.device]:
    """Devices whose RNG a ``fork_rng`` around work on ``device`` must save and restore."""
    return [device] if device.type == "cuda" else []


@contextlib.contextmanager
def side_rng(seed: int | None, device: torch.device) -> Iterator[None]:
    """Run a block on its own seeded random stream; the caller's RNG state is left untouched (previews, evaluation and
    analysis never change a training run's trajectory). ``seed`` None runs the block on the global stream instead."""
    with torch.random.fork_rng(devices=rng_devices(device), enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        yield


def noise_seed(seed: int, index: int) -> int:
    """The seed of the noise inputs (StyleGAN's) of image ``index`` drawn with ``seed``: a hash of both, so it is never
    a latent seed (seed 0's noise once equalled its latents) and any seed gives a valid 63-bit torch seed."""
    digest = hashlib.sha256(f"ganscape-noise:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def rng_state() -> dict:
    """The global RNG states (CPU, and every CUDA device when present)."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore ``rng_state()``'s states (CPU tensors; others are copied there). CUDA devices get theirs by index, as
    many as both the saved state and this process have (``set_rng_state_all`` failed with fewer saved)."""
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        for index, device_state in enumerate(state["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(device_state.cpu(), index)
