"""Sampling with batch statistics (``GeneratorSampler.batch_stats``, ``ganscape eval --bn-batch``): each chunk of B
samples is normalised by its own batch statistics, as in a TensorFlow sampler left in training mode, and the
generator's running statistics and mode are untouched."""
import json

import pytest
import torch

from ganscape.cli import main
from ganscape.config import load_config
from ganscape.models import build_generator
from ganscape.priors import build_prior
from ganscape.results import RESULTS_FILE
from ganscape.runtime import side_rng
from ganscape.sampling import GeneratorSampler, batch_norm_layers
from ganscape.training import train

SHAPE = (1, 16, 16)


def sampler_with_moved_statistics(generator: dict, batch_stats: int, classes: int = 0) -> GeneratorSampler:
    """A DCGAN-style G whose running statistics have moved away from the batch ones (a few training-mode passes on
    shifted latents), in eval mode, as a trained run's sampler holds it."""
    torch.manual_seed(0)
    prior = build_prior({"name": "gaussian", "dim": 8})
    G = build_generator(generator, SHAPE, prior.dim, classes)
    with torch.no_grad():
        for _ in range(3):
            G(torch.randn(16, 8) * 3 + 1, torch.arange(16) % classes if classes else None)
    return GeneratorSampler(G.eval(), prior.eval(), {"generator": generator}, 0, {"shape": list(SHAPE)},
                            torch.device("cpu"), batch_stats=batch_stats)


def train_mode_copy(sampler: GeneratorSampler, classes: int = 0):
    G = build_generator(sampler.config["generator"], SHAPE, 8, classes)
    G.load_state_dict(sampler.G.state_dict())
    return G.train()


def buffers(G) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in G.named_buffers()}


def test_each_chunk_is_normalised_by_its_own_statistics_and_the_generator_is_left_as_it_was():
    sampler = sampler_with_moved_statistics({"name": "dcgan", "ngf": 8}, batch_stats=5)
    before = buffers(sampler.G)
    x = sampler.sample(13, seed=3, batch=64)          # chunks 0-4, 5-9, and the last 5 latents 8-12 for 10-12
    with side_rng(3, torch.device("cpu")):
        z = sampler.prior.sample(13, torch.device("cpu"))
    expected_g = train_mode_copy(sampler)
    with torch.no_grad():
        expected = torch.cat([expected_g(z[0:5]), expected_g(z[5:10]), expected_g(z[8:13])[2:]])
        running = sampler.G(z)
    assert x.shape == (13, *SHAPE)
    torch.testing.assert_close(x, expected)
    assert (x - running).abs().max() > 1e-2             # not the eval-mode samples
    assert not sampler.G.training and not any(m.training for m in batch_norm_layers(sampler.G))
    for name, value in buffers(sampler.G).items():
        assert torch.equal(value, before[name]), name
    sampler.batch_stats = 0                             # running statistics again: the eval-mode samples
    torch.testing.assert_close(sampler.sample(13, seed=3), running)


def test_a_per_slot_batch_norm_samples_with_the_whole_chunks_statistics():
    """A PacGAN generator normalising each packing slot apart (``bn_groups``) draws a chunk as one generator call
    of the PacGAN code does: statistics over the chunk; its groups are restored after."""
    grouped = sampler_with_moved_statistics({"name": "dcgan_tf", "ngf": 4, "bn_groups": 2}, batch_stats=6)
    plain = sampler_with_moved_statistics({"name": "dcgan_tf", "ngf": 4, "bn_groups": 1}, batch_stats=6)
    plain.G.load_state_dict(grouped.G.state_dict())
    x = grouped.sample(12, seed=1)
    torch.testing.assert_close(x, plain.sample(12, seed=1))
    assert {m.groups for m in batch_norm_layers(grouped.G)} == {2}
    grouped.batch_stats = 0
    assert (x - grouped.sample(12, seed=1)).abs().max() > 1e-2


def test_a_conditional_generators_labels_follow_their_latents_into_each_chunk():
    sampler = sampler_with_moved_statistics({"name": "cdcgan", "ngf": 8}, batch_stats=5, classes=10)
    labels = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9])
    x = sampler.sample(13, seed=2, labels=labels)
    with side_rng(2, torch.device("cpu")):
        z = sampler.prior.sample(13, torch.device("cpu"))
    G = train_mode_copy(sampler, classes=10)
    with torch.no_grad():
        expected = torch.cat([G(z[0:5], labels[0:5]), G(z[5:10], labels[5:10]), G(z[8:13], labels[8:13])[2:]])
    torch.testing.assert_close(x, expected)


def test_the_generator_is_restored_when_it_raises_while_sampling(monkeypatch):
    sampler = sampler_with_moved_statistics({"name": "dcgan", "ngf": 8}, batch_stats=4)
    before, forward, calls = buffers(sampler.G), sampler.G.forward, []

    def failing_forward(*args, **kwargs):
        calls.append(1)
        out = forward(*args, **kwargs)      # moves the running statistics in training mode ...
        if len(calls) == 2:
            raise RuntimeError("out of memory")   # ... then fails
        return out

    monkeypatch.setattr(sampler.G, "forward", failing_forward)
    with pytest.raises(RuntimeError, match="out of memory"):
        sampler.sample(12, seed=0)
    assert not any(m.training for m in batch_norm_layers(sampler.G))
    for name, value in buffers(sampler.G).items():
        assert torch.equal(value, before[name]), name


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("bn") / "run"
    cfg = load_config("dcgan-digits", ["train.steps=4", "train.checkpoint_every=4", "train.sample_every=0",
                                       "train.log_every=4", "generator.ngf=8", "discriminator.ndf=8",
                                       "train.batch_size=8"])
    train(cfg, run_dir, show_progress=False)
    return run_dir


def eval_rows(run_dir) -> list[dict]:
    path = run_dir / RESULTS_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_eval_bn_batch_marks_its_records_and_scores_the_batch_statistics_samples(digits_run, capsys):
    common = [str(digits_run), "--metrics", "fid", "--extractor", "raw", "--n", "40", "--no-ema"]
    assert main(["eval", *common]) == 0
    assert main(["eval", *common, "--bn-batch", "8"]) == 0
    rows = {r["checkpoint"]: r["value"] for r in eval_rows(digits_run)}
    assert set(rows) == {"ckpt-00000004.pt+raw", "ckpt-00000004.pt+raw+bnbatch8"}
    assert rows["ckpt-00000004.pt+raw"] != rows["ckpt-00000004.pt+raw+bnbatch8"]


@pytest.mark.parametrize("value", ["1", "-2"])
def test_eval_bn_batch_under_two_is_one_line_and_writes_nothing(digits_run, tmp_path, value, capsys):
    before = eval_rows(digits_run)
    assert main(["eval", str(digits_run), "--metrics", "fid", "--extractor", "raw", "--n", "40",
                 "--bn-batch", value]) != 0
    assert f"--bn-batch: must be >= 2, got {value}" in capsys.readouterr().err
    assert eval_rows(digits_run) == before


def test_eval_bn_batch_above_the_sample_count_is_refused(digits_run, capsys):
    before = eval_rows(digits_run)
    assert main(["eval", str(digits_run), "--metrics", "fid", "--extractor", "raw", "--n", "40",
                 "--bn-batch", "128"]) != 0
    assert "--bn-batch: 128 is more than the --n 40 samples drawn" in capsys.readouterr().err
    assert eval_rows(digits_run) == before


def test_eval_bn_batch_on_a_generator_without_batch_norm_is_refused(tmp_path, capsys):
    run_dir = tmp_path / "toy"
    train(load_config("ring8", ["train.steps=2", "train.checkpoint_every=2", "train.sample_every=0",
                                "generator.hidden=8", "discriminator.hidden=8"]), run_dir, show_progress=False)
    assert main(["eval", str(run_dir), "--metrics", "modes", "--bn-batch", "8"]) != 0
    err = capsys.readouterr().err
    assert "--bn-batch: generator 'mlp' has no batch norm layer" in err
    assert not (run_dir / RESULTS_FILE).exists() or "bnbatch" not in (run_dir / RESULTS_FILE).read_text()
