"""The penalty interface: how the critic is kept smooth (Lipschitz), as an extra D loss term or a constraint.

A penalty factory returns a ``Penalty``: calling it, ``penalty(critic, x_real, x_fake, y_real, y_fake)``, gives the
weighted loss term (a scalar tensor, or None when it adds none), and ``after_critic_step(critic)`` runs after every
optimiser step of the critic (a constraint such as WGAN's weight clipping acts there). A penalty that differentiates
the critic's scores of single batches is registered with ``scores_gradient=True`` (a pair critic's Turing objective
trains other scores; ``ganscape.config.validate``)."""
from __future__ import annotations

import torch

from ganscape.registry import ConfigError, Registry

PENALTIES = Registry("penalty")


def gradient_norms(scores: torch.Tensor, inputs: torch.Tensor, critic=None) -> torch.Tensor:
    """L2 norm of d(sum scores)/d inputs per score (S,), keeping the graph for backprop. Inputs (B, ...) with
    B = S * m: each score's gradient is that of its m consecutive samples (m > 1 for a packed discriminator, whose
    input is the m samples side by side, so this is the norm of the gradient with respect to the packed input).
    ``critic``: the critic that gave ``scores``; under fp16 loss scaling it carries the run's ``precision``, and the
    gradient is taken as the AMP gradient-penalty recipe does (``Precision.input_gradient``)."""
    precision = getattr(critic, "precision", None)
    if precision is None:
        (grad,) = torch.autograd.grad(scores.sum(), inputs, create_graph=True)
    else:
        grad = precision.input_gradient(scores, inputs)
    return grad.reshape(scores.shape[0], -1).norm(2, dim=1)


def group_size(critic) -> int:
    """How many samples ``critic`` scores as one input (its PacGAN ``pack``; 1 for an unpacked critic)."""
    return getattr(critic, "pack", 1)  # PackedCritic's, also through a training wrapper


class Penalty:
    """Base of every penalty: no loss term and no constraint unless a subclass adds them. ``every`` = k > 1 makes the
    loss term lazy (``ganscape.training.schemes.lazy``): computed on every k-th critic step and multiplied by k."""

    every: int = 1
    double_backward: bool = False  # whether the loss term differentiates through a gradient (torch.compile cannot)

    def __call__(self, critic, x_real, x_fake, y_real=None, y_fake=None) -> torch.Tensor | None:
        return None

    def after_critic_step(self, critic: torch.nn.Module) -> None:
        """Called after each critic optimiser step."""


@PENALTIES.register("none", "No penalty")
class NoPenalty(Penalty):
    def __call__(self, critic, x_real, x_fake, y_real=None, y_fake=None):
        return None


def build_penalty(section: dict):
    """The penalty of ``section``; one built on ``Penalty`` that overrides neither ``__call__`` (its loss term) nor
    ``after_critic_step`` (a constraint) is refused, since it would do nothing (a user's penalty with its term in a
    method of another name trained without it, without a word)."""
    penalty = PENALTIES.build(section, "penalty")
    kind = type(penalty)
    if isinstance(penalty, Penalty) and kind.__call__ is Penalty.__call__ \
            and kind.after_critic_step is Penalty.after_critic_step:
        raise ConfigError(f"penalty.name: {section['name']!r} builds a {kind.__name__} that overrides neither "
                          "__call__(critic, x_real, x_fake, y_real=None, y_fake=None), its loss term, nor "
                          "after_critic_step(critic), a constraint: it would do nothing")
    return penalty
