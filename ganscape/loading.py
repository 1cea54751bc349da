"""Load a trained generator back from a run folder (for sampling, evaluation and analysis)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from ganscape.models import build_generator
from ganscape.priors import Prior, build_prior
from ganscape.registry import ConfigError
from ganscape.training.checkpoint import list_checkpoints, load_state
from ganscape.training.run import resolve_device


@dataclass
class TrainedGenerator:
    """A generator in eval mode with its prior and the facts about its data."""

    G: torch.nn.Module
    prior: Prior
    config: dict[str, Any]
    step: int
    data_meta: dict[str, Any]
    device: torch.device

    @property
    def num_classes(self) -> int:
        return getattr(self.G, "num_classes", 0)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = 0, labels: torch.Tensor | int | None = None,
               batch: int = 256) -> torch.Tensor:
        """Draw ``n`` samples (n, *shape); ``labels`` is a class id or (n,) ids for conditional G."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            if seed is not None:
                torch.manual_seed(seed)
            z = self.prior.sample(n, self.device)
            y = self.labels(n, labels)
            return self.decode(z, y, batch)

    def labels(self, n: int, labels: torch.Tensor | int | None) -> torch.Tensor | None:
        if not self.num_classes:
            if labels is not None:
                raise ConfigError("--class: this generator is unconditional; it takes no class label")
            return None
        if labels is None:
            return torch.randint(self.num_classes, (n,), device=self.device)
        if isinstance(labels, int):
            if not 0 <= labels < self.num_classes:
                raise ConfigError(f"--class: {labels} is not a class of this run; valid: 0..{self.num_classes - 1}")
            return torch.full((n,), labels, dtype=torch.long, device=self.device)
        return labels.to(self.device)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None, batch: int = 256) -> torch.Tensor:
        """G(z, y) in chunks, on the generator's device."""
        out = [self.G(z[i:i + batch].to(self.device), None if y is None else y[i:i + batch])
               for i in range(0, len(z), batch)]
        return torch.cat(out)


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise ConfigError(f"{run_dir} is not a run folder (no config.yaml); train one with `ganscape train`")
    return yaml.safe_load(path.read_text())


def find_checkpoint(run_dir: str | Path, step: int | None = None) -> Path:
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise ConfigError(f"{run_dir} has no checkpoints yet")
    if step is None:
        return checkpoints[max(checkpoints)]
    if step not in checkpoints:
        raise ConfigError(f"--checkpoint: no checkpoint at step {step} in {run_dir}; "
                          f"available: {', '.join(map(str, checkpoints))}")
    return checkpoints[step]


def load_generator(run_dir: str | Path, step: int | None = None, ema: bool = True,
                   device: str = "auto") -> TrainedGenerator:
    """Rebuild G from ``config.yaml`` and a checkpoint (the newest by default).

    The EMA weights are used when the run kept them and ``ema`` is true.
    """
    config = read_run_config(run_dir)
    dev = resolve_device(device)
    state = load_state(find_checkpoint(run_dir, step), dev)
    meta = state["data_meta"]
    prior = build_prior(config["prior"]).to(dev)
    prior.load_state_dict(state["prior"])
    G = build_generator(config["generator"], tuple(meta["shape"]), prior.dim, meta["num_classes"]).to(dev)
    G.load_state_dict(state["G_ema"] if ema and state["G_ema"] is not None else state["G"])
    return TrainedGenerator(G.eval(), prior.eval(), config, state["step"], meta, dev)


__all__ = ["TrainedGenerator", "load_generator", "find_checkpoint", "read_run_config"]
