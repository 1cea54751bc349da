"""The small interfaces every component follows (typing Protocols; see docs/architecture.md).

Shapes: B batch rows; images (B, C, H, W) in [-1, 1]; toy data (B, D); labels (B,) int64. Capabilities beyond the basic
interface are protocols of their own, checked with ``isinstance``: a pair critic, an auxiliary classifier, a style-based
generator."""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor


class Generator(Protocol):
    """``G(z (B, z_dim), y (B,) | None) -> samples (B, *data_shape)``; ``num_classes`` 0 when unconditional."""
    num_classes: int
    def __call__(self, z: Tensor, y: Tensor | None = None) -> Tensor: ...


class Discriminator(Protocol):
    """``D(x (B, *data_shape), y) -> raw scores (B,)``; ``features``: the body before the score layer, (B, F) or
    (B, C, H, W); ``as_encoder()``: the critic without its score layer."""
    aux_classes: int  # > 0: an AC-GAN head (see AuxiliaryClassifier)
    def __call__(self, x: Tensor, y: Tensor | None = None) -> Tensor: ...
    def features(self, x: Tensor, y: Tensor | None = None) -> Tensor: ...
    def as_encoder(self) -> torch.nn.Module: ...


@runtime_checkable
class AuxiliaryClassifier(Protocol):
    """An AC-GAN discriminator: ``forward_aux(x, y) -> (scores (B,), raw class logits (B, K))``."""
    aux_classes: int
    def forward_aux(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]: ...


@runtime_checkable
class PairScorer(Protocol):
    """A critic of pairs (Turing-test GAN): ``pair(x_a, x_b) -> (T(x_a, x_b), T(x_b, x_a))``, each (B,)."""
    def pair(self, x_a: Tensor, x_b: Tensor, y_a: Tensor | None = None,
             y_b: Tensor | None = None) -> tuple[Tensor, Tensor]: ...


@runtime_checkable
class StyleBased(Protocol):
    """A StyleGAN-style generator: z -> w (``mapping``), per-layer styles (B, L, w_dim) and noise inputs -> images."""
    w_avg: Tensor
    truncation_psi: float
    num_layers: int
    def mapping(self, z: Tensor) -> Tensor: ...
    def draw_noise(self, seeds: list[int], device: torch.device | str = "cpu") -> list[Tensor]: ...
    def synthesis(self, ws: Tensor, noise: list[Tensor] | None = None) -> Tensor: ...
    def truncate(self, ws: Tensor, psi: float, cutoff: int | None = None) -> Tensor: ...


class Objective(Protocol):
    """Critic scores (B,) -> D and G losses (scalars); ``uses_real_in_g``: G's loss needs D(real)."""
    uses_real_in_g: bool
    def critic_scores(self, critic: Any, x_real: Tensor, x_fake: Tensor, y_real: Tensor | None = None,
                      y_fake: Tensor | None = None) -> tuple[Tensor, Tensor]: ...
    def fake_scores(self, critic: Any, x_fake: Tensor, y_fake: Tensor | None = None) -> Tensor: ...
    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor: ...
    def g_loss(self, fake: Tensor, real: Tensor | None = None) -> Tensor: ...


class Penalty(Protocol):
    """An extra D loss term, already weighted; None when there is no penalty."""
    def __call__(self, critic: Any, x_real: Tensor, x_fake: Tensor, y_real: Tensor | None = None,
                 y_fake: Tensor | None = None) -> Tensor | None: ...


class Prior(Protocol):
    """The latent distribution: ``sample(n, device) -> (n, dim)``; ``regularizer()`` adds to G's loss."""
    dim: int
    def sample(self, n: int, device: torch.device | str = "cpu") -> Tensor: ...
    def regularizer(self) -> Tensor | None: ...


class Scheme(Protocol):
    """One training step on a run's parts -> detached scalar tensors to log (at least ``loss_d`` and ``loss_g``;
    gradient norms too when ``log``), with no host synchronisation."""
    def step(self, parts: Any, log: bool) -> dict[str, Tensor]: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


class Schedule(Protocol):
    """A learning-rate multiplier for the update after ``done`` of ``total`` steps."""
    def factor(self, done: int, total: int) -> float: ...
