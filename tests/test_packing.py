"""PacGAN packing (Lin et al. 2018): the discriminator sees m samples side by side, and every objective, penalty
and scheme composes with it."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ganscape.models import build_discriminator, build_generator
from ganscape.models.mlp import InterleavedBatchNorm1d
from ganscape.models.packing import PackedCritic, pack_batch
from ganscape.penalties import build_penalty
from ganscape.registry import ConfigError
from ganscape.training import Trainer


class Recorder(torch.nn.Module):
    """Inner critic that records its input and scores it as a * sum(x^2) (gradient 2 a x)."""

    def __init__(self, a=0.7):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a, dtype=torch.float64))
        self.seen = []

    def forward(self, x, y=None):
        self.seen.append(x.detach().clone())
        return self.a * x.pow(2).flatten(1).sum(1)


def test_vectors_are_concatenated_along_features():
    x = torch.arange(8 * 2, dtype=torch.float64).reshape(8, 2)
    inner = Recorder()
    scores = PackedCritic(inner, 4)(x)
    (seen,) = inner.seen
    assert seen.shape == (2, 8) and scores.shape == (2,)
    # packed input i is samples 4i .. 4i+3, one after the other: [x_4i, x_4i+1, x_4i+2, x_4i+3]
    assert torch.equal(seen[1], torch.cat([x[4], x[5], x[6], x[7]]))


def test_images_are_concatenated_along_channels():
    x = torch.randn(6, 3, 4, 5)
    packed = pack_batch(x, 2)
    assert packed.shape == (3, 6, 4, 5)
    assert torch.equal(packed[2, :3], x[4]) and torch.equal(packed[2, 3:], x[5])


def test_a_packed_discriminator_is_built_for_the_packed_shape():
    mlp = build_discriminator({"name": "mlp", "hidden": 8, "layers": 1, "pack": 3}, (2,))
    assert isinstance(mlp, PackedCritic) and mlp.inner.net[0].in_features == 6
    assert mlp(torch.randn(9, 2)).shape == (3,)
    dcgan = build_discriminator({"name": "dcgan", "ndf": 4, "pack": 2}, (1, 16, 16))
    assert dcgan.inner.net[0].in_channels == 2 and dcgan(torch.randn(4, 1, 16, 16)).shape == (2,)
    assert not isinstance(build_discriminator({"name": "mlp", "hidden": 8}, (2,)), PackedCritic)  # pack: 1


def test_wgan_gp_on_a_packed_critic_interpolates_and_normalises_per_group():
    gen = torch.Generator().manual_seed(0)
    real, fake = (torch.randn(6, 3, generator=gen, dtype=torch.float64) for _ in range(2))
    torch.manual_seed(5)
    got = build_penalty({"name": "wgan_gp", "weight": 10.0})(PackedCritic(Recorder(), 2), real, fake)
    torch.manual_seed(5)
    a = torch.rand(3, 1).double().numpy()                       # one coefficient per group of 2
    real_p, fake_p = real.numpy().reshape(3, 6), fake.numpy().reshape(3, 6)
    x_hat = real_p + a * (fake_p - real_p)                      # interpolate packed inputs
    norms = np.linalg.norm(2 * 0.7 * x_hat, axis=1)             # gradient norm per packed input
    assert float(got.detach()) == pytest.approx(10.0 * np.mean((norms - 1) ** 2), rel=1e-10)


@pytest.mark.parametrize("penalty", ["r1", "dragan"])
def test_other_penalties_take_the_norm_per_packed_input(penalty):
    real, fake = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    critic = PackedCritic(Recorder(), 2)
    build_penalty({"name": penalty})(critic, real, fake)
    assert critic.inner.seen[-1].shape == (2, 6)


def tiny(**overrides) -> dict:
    config = {"seed": 0, "device": "cpu", "data": {"name": "ring8", "n": 256}, "prior": {"name": "gaussian", "dim": 2},
              "generator": {"name": "mlp", "hidden": 16, "layers": 1},
              "discriminator": {"name": "mlp", "hidden": 16, "layers": 1, "pack": 2},
              "train": {"steps": 3, "batch_size": 8, "log_every": 1, "checkpoint_every": 0, "sample_every": 0}}
    for key, value in overrides.items():
        config[key] = value
    return config


@pytest.mark.parametrize("scheme", [{"name": "alternating", "n_critic": 2}, {"name": "egan", "parents": 1},
                                    {"name": "egan", "parents": 2}, {"name": "simultaneous"}])
@pytest.mark.parametrize("slot_batch_norm", [False, True])
def test_schemes_train_a_packed_discriminator(scheme, slot_batch_norm):
    generator = tiny()["generator"]
    if slot_batch_norm:
        generator = {**generator, "norm": "batch", "bn_groups": 2}
    result = Trainer(tiny(scheme=scheme, generator=generator)).fit()
    assert len(result.history) == 3 and all(np.isfinite(v) for row in result.history for v in row.values())


@pytest.mark.parametrize("config,message", [
    (tiny(train={"steps": 1, "batch_size": 7}), "train.batch_size: 7 is not a multiple of discriminator.pack (2)"),
    (tiny(discriminator={"name": "mlp", "pack": 0}), "discriminator.pack: must be >= 1, got 0"),
    (tiny(discriminator={"name": "mlp", "pack": 1.5}), "discriminator.pack: expected int"),
    (tiny(discriminator={"name": "pair", "pack": 2}), "discriminator.pack: 2 cannot pack"),
    (tiny(discriminator={"name": "pair", "encoder": {"name": "mlp", "pack": 2}}), "discriminator.encoder.pack"),
    (tiny(data={"name": "digits", "size": 8}, generator={"name": "cdcgan", "ngf": 4},
          discriminator={"name": "cdcgan", "ndf": 4, "pack": 2}), "discriminator.pack: 2 packs unconditional"),
])
def test_impossible_packings_are_refused_in_one_line(config, message):
    with pytest.raises(ConfigError) as err:
        Trainer(config)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_interleaved_batch_norm_normalises_each_packing_slot_on_its_own():
    """bn_groups = m: G on a PacGAN-m batch gives each slot (samples k, k+m, ...) what G in training mode gives that
    slot's latents alone, as the PacGAN code's m generator calls do; the running statistics move towards the slots'
    mean statistics."""
    torch.manual_seed(0)
    options = {"name": "mlp", "hidden": 16, "layers": 2, "norm": "batch", "bn_momentum": 0.05}
    grouped = build_generator({**options, "bn_groups": 4}, (2,), 3)
    single = build_generator(options, (2,), 3)
    single.load_state_dict(grouped.state_dict())
    z = torch.randn(40, 3, dtype=torch.float64)
    grouped, single = grouped.double().train(), single.double().train()
    out = grouped(z)
    for slot in range(4):
        assert torch.allclose(out[slot::4], single(z[slot::4]), atol=1e-12)
    norm = next(m for m in grouped.modules() if isinstance(m, InterleavedBatchNorm1d))
    h = grouped.net[0](z).reshape(10, 4, 16)  # the first norm's input, by slot
    expected_var = 0.95 + 0.05 * h.var(dim=0, unbiased=True).mean(dim=0)
    assert torch.allclose(norm.running_mean, 0.05 * h.mean(dim=(0, 1)), atol=1e-12)
    assert torch.allclose(norm.running_var, expected_var, atol=1e-12)


def test_dcgan_tf_generator_normalises_each_packing_slot_of_images_on_its_own():
    """The image generator's ``bn_groups`` = m (``InterleavedBatchNorm2d``): each slot's images are those that G in
    training mode makes from that slot's latents alone; its running statistics are the mean of the slots'."""
    torch.manual_seed(0)
    grouped = build_generator({"name": "dcgan_tf", "ngf": 2, "bn_groups": 2}, (1, 16, 16), 3).double().train()
    single = build_generator({"name": "dcgan_tf", "ngf": 2}, (1, 16, 16), 3).double().train()
    single.load_state_dict(grouped.state_dict())
    z = torch.randn(12, 3, dtype=torch.float64)
    out = grouped(z)
    for slot in range(2):
        assert torch.allclose(out[slot::2], single(z[slot::2]), atol=1e-12)
    slot_means = [torch.zeros(16, dtype=torch.float64), torch.zeros(16, dtype=torch.float64)]
    for slot in range(2):  # the first norm's input, by slot: running mean 0.1 * its per-channel batch mean
        h = grouped.fc(z[slot::2]).reshape(6, 16, 1, 1)
        slot_means[slot] = 0.1 * h.mean(dim=(0, 2, 3))
    assert torch.allclose(grouped.norms[0].running_mean, (slot_means[0] + slot_means[1]) / 2, atol=1e-12)
    assert not torch.allclose(out[0::2], single(z)[0::2], atol=1e-6)  # statistics over the whole batch differ


def test_one_batch_norm_group_is_plain_batch_norm():
    torch.manual_seed(1)
    ours, plain = InterleavedBatchNorm1d(5, 0.1, 1), torch.nn.BatchNorm1d(5, momentum=0.1)
    x = torch.randn(12, 5)
    assert torch.equal(ours(x), plain(x)) and torch.equal(ours.running_var, plain.running_var)
    assert ours.state_dict().keys() == plain.state_dict().keys()  # runs from before the option load unchanged


@pytest.mark.parametrize("generator,scheme,batch,message", [
    ({"bn_groups": 3}, {}, 100, "train.batch_size: 100 does not cut into generator.bn_groups (3) groups of at least "
                                "two samples; use e.g. 102"),
    ({"bn_groups": 2}, {"name": "egan", "parents": 3}, 8, "train.batch_size: 8 does not cut into generator.bn_groups "
                                                          "(2) groups of at least two samples once split among 3 E-GAN "
                                                          "parents; use e.g. 12"),
    ({"bn_groups": 3, "norm": "none"}, {}, 100, "generator.bn_groups: 3 groups batch-norm statistics, but "
                                                "generator.norm"),
    ({"bn_groups": 0}, {}, 100, "generator.bn_groups: must be >= 1, got 0"),
])
def test_impossible_batch_norm_groups_are_refused_in_one_line(generator, scheme, batch, message):
    config = tiny(generator={"name": "mlp", "hidden": 8, "layers": 1, "norm": "batch", **generator},
                  scheme=scheme or {"name": "alternating"}, train={"steps": 1, "batch_size": batch})
    with pytest.raises(ConfigError) as err:
        Trainer(config)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    if "use e.g." in message:  # the batch the message suggests trains
        config["train"]["batch_size"] = int(message.rsplit(" ", 1)[1])
        assert len(Trainer(config).fit().history) == 1


def test_image_generator_batch_norm_groups_that_do_not_fit_are_refused_before_training():
    config = tiny(data={"name": "digits", "size": 16}, generator={"name": "dcgan_tf", "ngf": 2, "bn_groups": 3},
                  discriminator={"name": "dcgan_tf", "ndf": 2, "pack": 2}, train={"steps": 1, "batch_size": 8})
    with pytest.raises(ConfigError, match=r"^train.batch_size: 8 does not cut into generator.bn_groups \(3\) groups "
                                          r"of at least two samples; use e.g. 12, or bn_groups: 1$"):
        Trainer(config)


def test_a_batch_of_one_still_trains_a_generator_without_batch_norm_groups():
    config = tiny(discriminator={"name": "mlp", "hidden": 8, "layers": 1},
                  train={"steps": 2, "batch_size": 1, "log_every": 1})
    assert len(Trainer(config).fit().history) == 2


@pytest.mark.parametrize("batch,message", [
    (8, "train.batch_size: 8 does not cut into generator.bn_groups (4) groups of at least two samples once split "
        "among 2 processes; use e.g. 16"),
    (12, "train.batch_size: each of the 2 processes gets 6 samples, not a multiple of discriminator.pack (4)"),
])
def test_a_rank_share_the_groups_do_not_fit_is_refused_before_training(monkeypatch, batch, message):
    """Under torchrun each rank normalises its own share of the batch: 8 samples fit 4 groups of 2 on one process,
    but not 2 ranks' 4 each."""
    import ganscape.distributed.data_parallel as data_parallel

    monkeypatch.setattr(data_parallel, "world", lambda: (0, 2))
    config = tiny(generator={"name": "mlp", "hidden": 8, "layers": 1, "norm": "batch", "bn_groups": 4},
                  discriminator={"name": "mlp", "hidden": 8, "layers": 1, "pack": 4},
                  train={"steps": 1, "batch_size": batch})
    with pytest.raises(ConfigError) as err:
        Trainer(config)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_rank_share_of_one_packed_input_is_refused_before_training(monkeypatch):
    """8 samples make two groups of 4 on one process, but one per rank on 2: a critic's batch statistics (the
    StyleGAN critic's minibatch standard deviation, a relativistic average) then compare nothing."""
    import ganscape.distributed.data_parallel as data_parallel

    monkeypatch.setattr(data_parallel, "world", lambda: (0, 2))
    config = tiny(discriminator={"name": "mlp", "hidden": 8, "layers": 1, "pack": 4},
                  train={"steps": 1, "batch_size": 8})
    with pytest.raises(ConfigError, match=r"^train.batch_size: 8 split among 2 processes does not give each share "
                                          r"whole groups of discriminator.pack \(4\) samples, at least two per "
                                          r"process; use e.g. 16$"):
        Trainer(config)


def test_e_gan_parents_whose_shares_would_share_a_packed_input_are_refused():
    """E-GAN's parents each generate a contiguous share of the batch: 6 samples of 2 parents in groups of 2 made one
    group of one sample from each parent and two of one parent's."""
    with pytest.raises(ConfigError) as err:
        Trainer(tiny(scheme={"name": "egan", "parents": 2}, train={"steps": 1, "batch_size": 6}))
    assert str(err.value) == ("train.batch_size: 6 split among 2 E-GAN parents does not give each share whole groups "
                              "of discriminator.pack (2) samples, at least two per process; use e.g. 8")


def test_a_rank_share_too_small_for_the_batch_norm_mlp_critic_is_refused_before_training(monkeypatch):
    """Two ranks' single packed inputs passed the global check and ended in a ValueError traceback on every rank."""
    import ganscape.distributed.data_parallel as data_parallel

    monkeypatch.setattr(data_parallel, "world", lambda: (0, 2))
    config = tiny(discriminator={"name": "mlp", "hidden": 8, "layers": 1, "norm": "batch", "pack": 2},
                  train={"steps": 1, "batch_size": 4})
    with pytest.raises(ConfigError) as err:
        Trainer(config)
    assert str(err.value) == ("train.batch_size: 4 gives the batch-norm MLP discriminator fewer than two (packed) "
                              "inputs to normalise once split among 2 processes; use at least 8, or "
                              "discriminator.norm none, layer or spectral")


def test_under_torchrun_the_first_refusal_suggests_a_batch_the_ranks_take(monkeypatch, tmp_path):
    """The config was validated for one process before torchrun's process group existed: batch 8 was told "use e.g.
    9", which the 2 ranks then refused ("use a multiple of 2"), then 10 was told "use e.g. 12"."""
    from ganscape.cli import main
    from ganscape.config import load_config

    egan = ["generator.norm=batch", "scheme.name=egan", "scheme.parents=3"]
    with pytest.raises(ConfigError, match=r"once split among 2 processes x 3 E-GAN parents; use e.g. 12$"):
        load_config("ring8", [*egan, "train.batch_size=8"], ranks=2)
    assert load_config("ring8", [*egan, "train.batch_size=12"], ranks=2)["train"]["batch_size"] == 12
    # `ganscape train` under torchrun reads WORLD_SIZE; every other reading of a config (eval of a run trained in one
    # process, a study plan) is for one process
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", "ring8", *egan, "train.batch_size=8", "--out", str(tmp_path / "run")]) == 2
    assert not (tmp_path / "run").exists()
    assert load_config("ring8", [*egan, "train.batch_size=9"])["train"]["batch_size"] == 9
    from ganscape.distributed import launched_world_size

    for value, size in (("0", 1), ("-1", 1), ("x", 1), ("3", 3)):  # 0 divided the batch by zero: a traceback
        monkeypatch.setenv("WORLD_SIZE", value)
        assert launched_world_size() == size
