"""Checkpoints: one file per snapshot, written atomically, loaded with ``weights_only=True``.

A checkpoint holds G, D, the prior, the EMA generator, both optimisers, the scheme's own
state, the RNG states, the data position and the step: enough to continue bit-exactly.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from ganscape.utils.io import atomic_path

PATTERN = re.compile(r"ckpt-(\d{8})\.pt$")


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return checkpoint_dir(run_dir) / f"ckpt-{step:08d}.pt"


def list_checkpoints(run_dir: str | Path) -> dict[int, Path]:
    """Step -> path of every complete checkpoint in a run, ascending."""
    folder = checkpoint_dir(run_dir)
    found = {}
    if folder.is_dir():
        for path in folder.iterdir():
            match = PATTERN.match(path.name)
            if match:
                found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def data_meta(dataset) -> dict[str, Any]:
    """What a generator needs to know about its data, so sampling works without the data."""
    info = {k: v for k, v in dataset.info.items() if isinstance(v, (torch.Tensor, int, float, str))}
    return {"name": dataset.name, "shape": list(dataset.shape), "num_classes": dataset.num_classes, "info": info}


def save_checkpoint(run, scheme, step: int, run_dir: str | Path, keep: int = 0) -> Path:
    """Write the snapshot for ``step``; with ``keep`` > 0 delete all but the newest ``keep``."""
    state = {
        "step": step,
        "G": run.G.state_dict(),
        "D": run.D.state_dict(),
        "prior": run.prior.state_dict(),
        "G_ema": run.ema.state_dict() if run.ema is not None else None,
        "opt_g": run.opt_g.state_dict(),
        "opt_d": run.opt_d.state_dict(),
        "scheme": scheme.state_dict(),
        "data_position": run.batches.position,
        "rng": rng_state(),
        "data_meta": data_meta(run.dataset),
    }
    return write_checkpoint(state, run_dir, step, keep)


def write_checkpoint(state: dict[str, Any], run_dir: str | Path, step: int, keep: int = 0) -> Path:
    """Atomically write ``state`` as the checkpoint of ``step`` (temp file + rename); with
    ``keep`` > 0 delete all but the newest ``keep`` checkpoints of the run."""
    path = checkpoint_path(run_dir, step)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    if keep > 0:
        for old in list(list_checkpoints(run_dir).values())[:-keep]:
            old.unlink(missing_ok=True)
    return path


def load_state(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load a checkpoint file safely (no arbitrary unpickling)."""
    return torch.load(path, map_location=device, weights_only=True)


def restore(run, scheme, state: dict[str, Any]) -> int:
    """Put a loaded checkpoint back into ``run`` and ``scheme``; returns its step."""
    run.G.load_state_dict(state["G"])
    run.D.load_state_dict(state["D"])
    run.prior.load_state_dict(state["prior"])
    if run.ema is not None and state["G_ema"] is not None:
        run.ema.load_state_dict(state["G_ema"])
    run.opt_g.load_state_dict(state["opt_g"])
    run.opt_d.load_state_dict(state["opt_d"])
    scheme.load_state_dict(state["scheme"])
    run.batches.position = state["data_position"]
    set_rng_state(state["rng"])
    return state["step"]
