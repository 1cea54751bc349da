"""The alternating scheme's latents: with two G steps a D step, the second G step draws new latents by default, and
with ``g_latents: reuse`` generates from the D step's latents again (the DCGAN-TensorFlow loop of PacGAN's Stacked
MNIST code: one z batch an iteration for its D step and both G steps)."""
from __future__ import annotations

import pytest
import torch

from ganscape.config import load_config
from ganscape.registry import ConfigError
from ganscape.training import Trainer

TINY = ["train.batch_size=16", "generator.hidden=8", "discriminator.hidden=8", "train.ema_decay=0",
        "train.sample_every=0", "train.checkpoint_every=0", "device=cpu", "train.steps=1", "scheme.g_steps=2"]


def latents_of_each_g_call(g_latents: str) -> tuple[list[torch.Tensor], int]:
    """The z of every call of G in one training step, and how many latent batches the step drew."""
    trainer = Trainer(load_config("ring8", [*TINY, f"scheme.g_latents={g_latents}"]))
    parts, calls, draws = trainer.parts, [], []
    train_G, latent_batch = parts.train_G, parts.latent_batch

    def recording_G(z, y=None):
        calls.append(z.clone())
        return train_G(z, y)

    def counting_latents(*args, **kwargs):
        draws.append(1)
        return latent_batch(*args, **kwargs)

    parts.train_G, parts.latent_batch = recording_G, counting_latents
    trainer.fit()
    return calls, len(draws)


def test_the_second_g_step_draws_new_latents_by_default():
    calls, draws = latents_of_each_g_call("fresh")
    assert len(calls) == 2 and draws == 2  # the D step's fake serves the first G step; the second draws its own
    assert not torch.equal(calls[0], calls[1])


def test_reused_latents_feed_the_d_step_and_both_g_steps():
    calls, draws = latents_of_each_g_call("reuse")
    assert len(calls) == 2 and draws == 1
    assert torch.equal(calls[0], calls[1])


def test_an_unknown_latents_choice_names_the_valid_ones():
    with pytest.raises(ConfigError, match="scheme.g_latents: expected one of 'fresh', 'reuse', got 'same'"):
        load_config("ring8", ["scheme.g_latents=same"])
