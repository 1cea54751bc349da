"""Numeric precision of a training step: float32, or mixed precision (``train.precision``).

    fp32  every op in float32 (the reference; bit-exact resumes and reference weights are pinned in it)
    bf16  torch.autocast to bfloat16: matmuls and convolutions in bf16, reductions and losses in float32; bf16 has
          float32's exponent range, so no loss scaling is needed (CPUs and GPUs from Ampere on)
    fp16  torch.autocast to float16 with dynamic loss scaling, one GradScaler for G and one for D (their losses have
          different magnitudes); CUDA only
    auto  fp32 on every device. Mixed precision is asked for by name: on an H200 bf16 autocast slowed the shipped
          32 and 64 px models (DCGAN, SNDCGAN, ResNet at batch 64: the plain PyTorch loop of each, ganscape's for
          three of four), whose steps are bound by kernel launches, not arithmetic; autocast adds casts
          (docs/performance.md)

Parameters, optimiser states and checkpoints stay float32 in every mode, so a run may resume with another precision.
Scores and generated batches leave the networks as float32 (``ganscape.training.wrappers``), so objectives and
penalties compute in float32.

Gradient penalties under loss scaling follow the PyTorch AMP recipe ("Gradient penalty" in the automatic mixed
precision examples): the input gradient is taken of the *scaled* critic output, so small fp16 gradients do not flush
to zero, then divided by the scale before its norm enters the loss (``input_gradient``)."""
from __future__ import annotations

import contextlib
from typing import Any

import torch

from ganscape.registry import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
SIDES = ("g", "d")
INPUT_GRADIENT_SCALE_MAX = 2.0 ** 10
MIN_LOSS_SCALE = 2.0 ** -24  # float16's smallest step; from the initial 2^16, 40 overflowed steps in a row


def resolve_precision(name: str, device: torch.device) -> str:
    """``train.precision`` for ``device``: ``auto`` resolved, impossible choices refused (ConfigError)."""
    if name not in PRECISIONS:
        raise ConfigError(f"train.precision: {name!r} is not valid; choose one of {', '.join(PRECISIONS)}")
    if name == "auto":
        return "fp32"
    if name == "fp16" and device.type != "cuda":
        raise ConfigError(f"train.precision: 'fp16' needs a CUDA GPU (float16 with loss scaling), and this run is on "
                          f"{device.type}; use bf16 or fp32 (or auto)")
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        raise ConfigError("train.precision: 'bf16' is not supported by this GPU; use fp16 or fp32 (or auto)")
    return name


class Precision:
    """Autocast and loss scaling for one run: ``autocast()`` around a training step, ``backward(loss, side)`` and
    ``step(optimizer, side)`` for side ``g`` or ``d`` instead of ``loss.backward()`` and ``optimizer.step()``."""

    def __init__(self, name: str, device: torch.device):
        self.name, self.device, self.dtype = name, device, DTYPES[name]
        self.scalers = {side: torch.amp.GradScaler(device.type) for side in SIDES} if name == "fp16" else {}

    @property
    def mixed(self) -> bool:
        """Whether networks run in a 16-bit type (their outputs are then cast back to float32)."""
        return self.dtype is not None

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.mixed:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def float32(self) -> contextlib.AbstractContextManager:
        """A region computed in float32 inside an autocast step: the gradient penalties, whose double backward
        through bf16 matmuls was too noisy to train (WGAN-GP on the ring diverged on a CPU with native bf16)."""
        if not self.mixed:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, enabled=False)

    def backward(self, loss: torch.Tensor, side: str, inputs: list[torch.Tensor] | None = None,
                 retain_graph: bool = False) -> None:
        """``loss.backward()`` (its gradient accumulated only into ``inputs`` when given), scaled under fp16."""
        scaler = self.scalers.get(side)
        (loss if scaler is None else scaler.scale(loss)).backward(inputs=inputs, retain_graph=retain_graph)

    def unscale(self, optimizer: torch.optim.Optimizer, side: str) -> None:
        """Divide the gradients by the loss scale now (before reading them, e.g. their norm); at most once per step."""
        if side in self.scalers:
            self.scalers[side].unscale_(optimizer)

    def logged_norm(self, norm: torch.Tensor, side: str) -> torch.Tensor:
        """A gradient norm to log: under loss scaling an overflowed step (inf/NaN gradients, which the scaler skips
        and answers with a smaller scale) logs 0 rather than inf, so it is not taken for a diverged run."""
        if side not in self.scalers:
            return norm
        return torch.where(torch.isfinite(norm), norm, torch.zeros_like(norm))

    def collapsed(self) -> str | None:
        """The side whose loss scale fell below MIN_LOSS_SCALE, or None (one host synchronisation per scaler; the
        divergence check calls it on log and checkpoint steps). An overflowed step is skipped and halves the scale,
        so a scale that low means dozens of skipped steps in a row; left alone it reaches 0, after which every step
        is skipped for good while the losses stay finite."""
        for side, scaler in self.scalers.items():
            if scaler.is_enabled() and scaler.get_scale() < MIN_LOSS_SCALE:
                return side
        return None

    def step(self, optimizer: torch.optim.Optimizer, side: str) -> None:
        """The optimiser step; with loss scaling it is skipped when a gradient is inf/NaN, and the scale adapts."""
        scaler = self.scalers.get(side)
        if scaler is None:
            optimizer.step()
            return
        scaler.step(optimizer)
        scaler.update()

    def input_gradient(self, outputs: torch.Tensor, inputs: torch.Tensor, side: str = "d") -> torch.Tensor:
        """d(sum outputs)/d inputs with the graph kept (for a penalty on it); under loss scaling, the gradient of the
        scaled sum divided by the scale (no host synchronisation: the scale stays a device tensor). The scale is the
        loss scale capped at INPUT_GRADIENT_SCALE_MAX: every score's upstream gradient is the scale itself, and the
        loss scale (2^16 at the start) would overflow float16 (max 65504) before any gradient is small."""
        scaler = self.scalers.get(side)
        if scaler is None:
            (grad,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
            return grad
        scale = scaler.scale(torch.ones((), device=outputs.device)).clamp(max=INPUT_GRADIENT_SCALE_MAX)
        (scaled,) = torch.autograd.grad(outputs.sum() * scale, inputs, create_graph=True)
        return scaled / scale

    def state_dict(self) -> dict[str, Any]:
        return {side: scaler.state_dict() for side, scaler in self.scalers.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Scaler states of a run saved in fp16; any other saved state (another precision) leaves fresh scalers."""
        for side, scaler in self.scalers.items():
            if state.get(side):
                scaler.load_state_dict(state[side])


FP32 = Precision("fp32", torch.device("cpu"))  # what a network called outside a run (tests, analysis) computes in
