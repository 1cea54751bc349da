"""The small interfaces every component follows (typing Protocols; see docs/architecture.md).

Shapes: B batch rows; images (B, C, H, W) in [-1, 1]; toy data (B, D); labels (B,) int64.
Capabilities beyond the basic interface are protocols of their own, checked with
``isinstance`` (runtime-checkable): a pair critic, an auxiliary classifier, a style-based G.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn


class Generator(Protocol):
    """``G(z (B, z_dim), y (B,) | None) -> samples (B, *data_shape)``; ``num_classes`` 0 when unconditional."""

    num_classes: int

    def __call__(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor: ...


class Discriminator(Protocol):
    """``D(x (B, *data_shape), y (B,) | None) -> raw scores (B,)`` (logits, critic values)."""

    aux_classes: int  # > 0: an AC-GAN head (see AuxiliaryClassifier)

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor: ...

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The body's output before the score layer: (B, F) or (B, C, H, W)."""

    def as_encoder(self) -> nn.Module:
        """This critic without its score layer, for use as an encoder (pair critic)."""


@runtime_checkable
class AuxiliaryClassifier(Protocol):
    """An AC-GAN discriminator: also returns raw class logits (B, K)."""

    aux_classes: int

    def forward_aux(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class PairScorer(Protocol):
    """A critic of pairs: ``pair(x_a, x_b) -> (T(x_a, x_b), T(x_b, x_a))``, each (B,) (Turing-test GAN)."""

    def pair(self, x_a: torch.Tensor, x_b: torch.Tensor, y_a: torch.Tensor | None = None,
             y_b: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class StyleBased(Protocol):
    """A StyleGAN-style generator: z -> w (``mapping``), per-layer styles -> image (``synthesis``)."""

    w_avg: torch.Tensor
    truncation_psi: float
    num_layers: int

    def mapping(self, z: torch.Tensor) -> torch.Tensor: ...

    def synthesis(self, ws: torch.Tensor) -> torch.Tensor: ...

    def truncate(self, ws: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor: ...


class Objective(Protocol):
    """How critic scores (B,) become the D and G losses (scalars)."""

    uses_real_in_g: bool  # the G loss needs D(real) too (relativistic, Turing)

    def critic_scores(self, critic: Any, x_real: torch.Tensor, x_fake: torch.Tensor,
                      y_real: torch.Tensor | None = None, y_fake: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def fake_scores(self, critic: Any, x_fake: torch.Tensor, y_fake: torch.Tensor | None = None) -> torch.Tensor: ...

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor: ...

    def g_loss(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor: ...


class Penalty(Protocol):
    """An extra D loss term, already weighted; None when there is no penalty."""

    def __call__(self, critic: Any, x_real: torch.Tensor, x_fake: torch.Tensor,
                 y_real: torch.Tensor | None = None, y_fake: torch.Tensor | None = None) -> torch.Tensor | None: ...


class Prior(Protocol):
    """The latent distribution: ``sample(n, device) -> (n, dim)``; a regulariser added to G's loss."""

    dim: int

    def sample(self, n: int, device: torch.device | str = "cpu") -> torch.Tensor: ...

    def regularizer(self) -> torch.Tensor | None: ...


class Scheme(Protocol):
    """What one training step does with the built parts of a run.

    ``step`` returns detached scalar tensors to log (at least ``loss_d`` and ``loss_g``); with
    ``log`` true it may add costlier diagnostics (gradient norms). It never calls ``.item()``.
    """

    def step(self, parts: Any, log: bool) -> dict[str, torch.Tensor]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class Schedule(Protocol):
    """A learning-rate multiplier as a function of the step: ``factor(step, total_steps) -> float``."""

    def factor(self, step: int, total: int) -> float: ...
