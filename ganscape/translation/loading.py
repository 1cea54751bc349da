"""Load a trained CycleGAN translator back from its run folder."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from ganscape.loading import find_checkpoint, read_run_config
from ganscape.registry import ConfigError
from ganscape.training.checkpoint import load_state
from ganscape.training.run import resolve_device
from ganscape.translation.trainer import build_translators

Direction = Literal["a2b", "b2a"]


@dataclass
class Translator:
    """One direction of a CycleGAN: ``G`` maps (B, *in_shape) -> (B, *out_shape), both in [-1, 1]."""

    G: nn.Module
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    step: int
    device: torch.device

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
        return torch.cat([self.G(x[i:i + batch].to(self.device)) for i in range(0, len(x), batch)])


def load_translator(run_dir: str | Path, direction: Direction = "a2b", step: int | None = None,
                    device: str = "auto") -> Translator:
    if direction not in ("a2b", "b2a"):
        raise ConfigError(f"--direction: {direction!r} is not valid; choose a2b or b2a")
    config = read_run_config(run_dir)
    if "data_a" not in config:
        raise ConfigError(f"{run_dir} is not a CycleGAN run (train one with `ganscape translate-train`)")
    dev = resolve_device(device)
    state = load_state(find_checkpoint(run_dir, step), dev)
    shape_a, shape_b = (tuple(s) for s in state["shapes"])
    g_ab, g_ba = build_translators(config, shape_a[0], shape_b[0], shape_a[1])
    G = g_ab if direction == "a2b" else g_ba
    G.load_state_dict(state["G_ab" if direction == "a2b" else "G_ba"])
    src, dst = (shape_a, shape_b) if direction == "a2b" else (shape_b, shape_a)
    return Translator(G.to(dev).eval(), src, dst, state["step"], dev)
