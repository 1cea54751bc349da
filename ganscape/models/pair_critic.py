"""Pair critic of the Turing-test GAN (Su 2018): T(x_a, x_b) = D(E(x_a) - E(x_b)).

E is any registered discriminator used as an encoder (``as_encoder()``): its ``features(x, y)``, the body up to (not
including) the score layer, averaged over spatial axes when it has them. D is the head Dense(hidden, SN) ->
LeakyReLU(0.2) -> Dense(1, no bias, SN).

``pair(x_a, x_b)`` gives T for row-wise pairs (row i of x_a with row i of x_b). ``forward(x)`` gives D(E(x)) so
penalties and non-Turing objectives still see a plain (B,) critic; the Turing objectives
(``ganscape/losses/turing.py``) call ``pair``."""
from __future__ import annotations

from functools import partial

import torch
from torch import nn
from torch.nn.utils import parametrize

from ganscape.models.base import DISCRIMINATORS, CriticNet
from ganscape.registry import ConfigError, Positive


def _encode(body: CriticNet, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """E(x): (B, F), spatial axes averaged."""
    h = body.features(x, y)
    return h.flatten(2).mean(2) if h.dim() > 2 else h


class PairCritic(CriticNet):
    packable = False  # T compares one real with one generated sample

    def __init__(self, encoder: nn.Module, feature_dim: int, hidden: int, power_iterations: int):
        super().__init__()
        self.encoder = encoder
        sn = partial(nn.utils.parametrizations.spectral_norm, n_power_iterations=power_iterations)
        self.head = nn.Sequential(sn(nn.Linear(feature_dim, hidden)), nn.LeakyReLU(0.2),
                                  sn(nn.Linear(hidden, 1, bias=False)))

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, *shape) -> E(x): (B, F), spatial axes averaged."""
        return _encode(self.encoder, x, y)

    def pair(self, x_a, x_b, y_a=None, y_b=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(T(x_a, x_b), T(x_b, x_a)), each (B,); E runs once per batch."""
        with parametrize.cached():  # one spectral-norm power iteration per pair, not per call
            e_a, e_b = self.features(x_a, y_a), self.features(x_b, y_b)
            return self.head(e_a - e_b).flatten(), self.head(e_b - e_a).flatten()

    def forward(self, x, y=None):
        """D(E(x)): (B,) scores of a single batch (for penalties and plain objectives)."""
        return self.head(self.features(x, y)).flatten()


@DISCRIMINATORS.register("pair", "Turing-test pair critic T(x_r, x_f) = D(E(x_r) - E(x_f)); SN head",
    citation='Su 2018, "Training Generative Adversarial Networks Via Turing Test"')
def pair_critic(data_shape, num_classes, encoder: dict | None = None, hidden: Positive = 512,
                power_iterations: Positive = 5):
    """``encoder`` is a discriminator section (default: mlp or dcgan with spectral norm)."""
    if encoder is None:
        encoder = {"name": "dcgan" if len(data_shape) == 3 else "mlp", "norm": "spectral"}
    section = dict(encoder)
    if section.get("name") == "pair":
        raise ConfigError("discriminator.encoder.name: 'pair' cannot encode itself; choose e.g. mlp or dcgan")
    key = "discriminator.encoder"
    DISCRIMINATORS.validate(section, key)
    if DISCRIMINATORS.shared_options(section)["pack"] != 1:
        raise ConfigError(f"{key}.pack: the pair critic encodes single samples; use pack: 1")
    body = DISCRIMINATORS.build(section, key, data_shape=tuple(data_shape), num_classes=num_classes).as_encoder()
    return PairCritic(body, _feature_dim(body, data_shape), hidden, power_iterations)


@torch.no_grad()
def _feature_dim(body: nn.Module, data_shape: tuple[int, ...]) -> int:
    """Width F of E(x), found by encoding a probe batch in eval mode (no state changes)."""
    was = body.training
    body.eval()
    try:
        return _encode(body, torch.zeros((2,) + tuple(data_shape)), None).shape[1]
    finally:
        body.train(was)
