"""Runners, the reference cache, periodic evaluation in training and the eval commands."""
import json

import numpy as np
import pytest
import torch

from ganscape.cli import main
from ganscape.config import load_config
from ganscape.features import build_extractor, lenet
from ganscape.metrics import cache, reference as ref_mod
from ganscape.metrics.evaluate import evaluate_run, evaluate_samples
from ganscape.registry import ConfigError
from ganscape.results import RESULTS_FILE, read_results
from ganscape.training import train


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSCAPE_CACHE", str(tmp_path / "cache"))
    yield tmp_path / "cache"


@pytest.fixture(scope="module")
def lenet_cache(tmp_path_factory):
    """One tiny digits classifier shared by the lenet tests of this module."""
    return tmp_path_factory.mktemp("lenet_cache")


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("toy") / "run"
    cfg = load_config("ring8", ["train.steps=60", "train.checkpoint_every=30", "train.sample_every=0",
                                "train.log_every=30", "generator.hidden=32", "discriminator.hidden=32",
                                "eval.every=30", "eval.metrics=[default, fid]", "eval.n=300"])
    with pytest.MonkeyPatch.context() as mp:   # the training-time eval caches here, not in ~/.cache
        mp.setenv("GANSCAPE_CACHE", str(run_dir.parent / "cache"))
        train(cfg, run_dir, show_progress=False)
    return run_dir


def values(records) -> dict:
    """{protocol name: value} of records or metric values."""
    return {r.metric: r.value for r in records}


def test_training_time_eval_writes_records_to_results_jsonl(toy_run):
    records = read_results(toy_run / RESULTS_FILE)
    assert sorted({r.step for r in records}) == [30, 60]
    assert {r.metric for r in records if r.step == 30} == {"modes2500_toy", "hq_share2500_toy", "reverse_kl2500_toy",
                                                         "fid300_raw"}
    modes = [r for r in records if r.metric == "modes2500_toy"]
    assert all(0 <= r.value <= 8 and r.n == 2500 and r.extractor == "toy" for r in modes)
    assert {(r.step, r.run, r.checkpoint) for r in records} == {(30, str(toy_run), "ckpt-00000030.pt"),
                                                              (60, str(toy_run), "ckpt-00000060.pt")}


def test_evaluating_a_checkpoint_again_replaces_its_training_time_records(tmp_path):
    """Training-time records had run "" and checkpoint "": ``ganscape eval`` of the same checkpoint and metric
    added a second row for the same weights instead of replacing it, and nothing said which run they were of."""
    run_dir = tmp_path / "run"
    cfg = load_config("ring8", ["train.steps=20", "train.checkpoint_every=10", "train.sample_every=0", "eval.every=5",
                                "eval.metrics=[modes]", "generator.hidden=16", "discriminator.hidden=16"])
    train(cfg, run_dir, show_progress=False)
    during = read_results(run_dir / RESULTS_FILE)
    assert [(r.step, r.checkpoint) for r in during if r.metric == "modes2500_toy"] == [
        (5, ""), (10, "ckpt-00000010.pt"), (15, ""), (20, "ckpt-00000020.pt")]
    assert main(["eval", str(run_dir), "--metrics", "modes", "--checkpoint", "10"]) == 0
    after = read_results(run_dir / RESULTS_FILE)
    assert len(after) == len(during)
    assert sorted((r.step, r.metric, r.value) for r in after) == sorted((r.step, r.metric, r.value) for r in during)


def test_evaluate_run_is_deterministic_and_protocol_named(toy_run):
    a = evaluate_run(toy_run, ["modes", "fid", "kid", "pr", "dc"], n=200, checkpoint=30)
    b = evaluate_run(toy_run, ["modes", "fid", "kid", "pr", "dc"], n=200, checkpoint=30)
    assert [(r.metric, r.value, r.std) for r in a] == [(r.metric, r.value, r.std) for r in b]
    assert set(values(a)) == {"modes2500_toy", "hq_share2500_toy", "reverse_kl2500_toy", "fid200_raw", "kid200_raw",
                              "precision200_raw", "recall200_raw", "density200_raw", "coverage200_raw"}
    assert all(r.step == 30 and r.checkpoint == "ckpt-00000030.pt" and r.run == str(toy_run) for r in a)


def test_eval_command_appends_records_for_all_checkpoints(toy_run, capsys):
    command = ["eval", str(toy_run), "--metrics", "modes,kid", "--n", "250", "--checkpoint", "all", "--reference-n",
               "2000"]
    assert main(command) == 0 and main(command) == 0  # run again (as after Ctrl-C): replaced, not doubled
    assert main(command + ["--seed", "1", "--no-ema"]) == 0  # other draws: kept beside, marked in the checkpoint
    records = read_results(toy_run / RESULTS_FILE)
    assert [r.checkpoint for r in records if r.metric == "kid250_raw_ref2k"] == [
        "ckpt-00000030.pt", "ckpt-00000060.pt", "ckpt-00000030.pt+raw+seed1", "ckpt-00000060.pt+raw+seed1"]
    kid = next(r for r in records if r.metric == "kid250_raw_ref2k")
    assert kid.std is not None and kid.std > 0 and kid.n == 250 and kid.extractor == "raw"
    assert main(["eval", str(toy_run), "--metrics", "fdi"]) == 2
    assert "unknown metric 'fdi'" in capsys.readouterr().err


def test_eval_uses_the_datas_default_metric_set(toy_run, capsys):
    assert main(["eval", str(toy_run), "--n", "300"]) == 0
    out = capsys.readouterr().out
    assert "modes2500_toy" in out and "reverse_kl2500_toy" in out and "fid" not in out  # ring8: the toy protocol


def test_reference_cache_is_keyed_and_never_reused_with_other_settings(isolated_cache, caplog):
    ext = build_extractor("raw", (2,), {"name": "ring8"})
    f1, key1 = ref_mod.reference_features({"name": "ring8"}, 100, ext)
    f2, key2 = ref_mod.reference_features({"name": "ring8"}, 120, ext)
    f3, _ = ref_mod.reference_features({"name": "ring8", "std": 0.02}, 100, ext)
    files = sorted((isolated_cache / "reference").glob("*.npz"))
    assert len(files) == 3 and len(f2) == 120 and not np.allclose(f1, f3)
    # Plant an entry with a different key under the expected file name: it must be rebuilt.
    path = ref_mod.cache_file(key1, None)
    blob = np.frombuffer(json.dumps({**key1, "n": 7}).encode(), dtype=np.uint8)
    np.savez(path, features=np.zeros((100, 2)), key=blob)
    cache.clear()  # as a new process would: the features this process keeps in memory are not the disk entry
    again, _ = ref_mod.reference_features({"name": "ring8"}, 100, ext)
    np.testing.assert_array_equal(again, f1)
    assert "other settings" in caplog.text


def test_eval_images_on_npz_against_digits(tmp_path, capsys):
    from ganscape.data import build_dataset

    x, _ = build_dataset({"name": "digits", "size": 8}).get(torch.arange(1797))   # all of them
    np.savez(tmp_path / "s.npz", x=((x[:, 0].numpy() + 1) * 127.5).round().astype(np.uint8))
    out = tmp_path / "res.jsonl"
    code = main(["eval-images", str(tmp_path / "s.npz"), "--reference", "{name: digits, size: 8}",
                 "--metrics", "fid,kid,pr", "--extractor", "raw", "--out", str(out)])
    assert code == 0
    recs = values(read_results(out))
    assert recs["fid1797_raw_ref-digits"] < 1e-3         # the same digits, 8-bit rounded
    assert recs["precision1797_raw_ref-digits"] == recs["recall1797_raw_ref-digits"] == 1.0
    assert main(["eval-images", str(tmp_path / "s.npz"), "--reference", "{name: nope}"]) == 2
    # the reference is named: against inverted digits it is another protocol (the same name before)
    assert main(["eval-images", str(tmp_path / "s.npz"), "--reference", "{name: digits, size: 8, invert: true}",
                 "--metrics", "fid", "--extractor", "raw", "--out", str(out)]) == 0
    assert recs["fid1797_raw_ref-digits"] < values(read_results(out))["fid1797_raw_ref-digits-invert"]


def test_lenet_metrics_through_the_runner(monkeypatch, lenet_cache):
    monkeypatch.setitem(lenet.RECIPE, "steps", 120)
    from ganscape.data import build_dataset

    x, _ = build_dataset({"name": "digits", "size": 16}).get(torch.arange(300))
    ref = {"name": "digits", "size": 16}
    got = evaluate_samples(x, ["fid", "is", "modified_is", "dc"], 300, ref, reference_n=300, cache_dir=lenet_cache)
    out = values(got)
    assert {"fid300_lenet-digits", "is300_lenet-digits", "mis300_lenet-digits", "density300_lenet-digits"} <= set(out)
    assert next(v for v in got if v.metric == "is300_lenet-digits").std > 0
    assert out["is300_lenet-digits"] > 5           # real digits: confident and balanced
    noise = values(evaluate_samples(torch.rand(300, 1, 16, 16) * 2 - 1, ["fid"], 300, ref, reference_n=300,
                                    cache_dir=lenet_cache))
    assert noise["fid300_lenet-digits"] > 10 * out["fid300_lenet-digits"]


def test_stacked_modes_counts_digit_triples(monkeypatch, lenet_cache):
    monkeypatch.setitem(lenet.RECIPE, "steps", 120)
    from ganscape.data import build_dataset

    x, y = build_dataset({"name": "digits", "size": 16}).get(torch.arange(300))
    stacked = torch.cat([x[:100], x[100:200], x[200:300]], dim=1)      # (100, 3, 16, 16)
    out = values(evaluate_samples(stacked, ["stacked_modes"], 100, {"name": "digits", "size": 16},
                                  cache_dir=lenet_cache))
    true_modes = len(set(zip(y[:100].tolist(), y[100:200].tolist(), y[200:300].tolist())))
    assert abs(out["stacked_modes100_lenet-digits"] - true_modes) <= 5
    with pytest.raises(ConfigError, match="3-channel"):
        evaluate_samples(x[:10], ["stacked_modes"], 10, {"name": "digits", "size": 16})


def test_training_time_eval_leaves_the_training_run_unchanged(monkeypatch):
    """A run scored every few steps ends with the same weights as the same run unscored, even when a metric draws
    from the global RNG (as building a network does)."""
    import ganscape.metrics.evaluate as evaluate
    from ganscape.training import Trainer

    original = evaluate.evaluate_sampler
    monkeypatch.setattr(evaluate, "evaluate_sampler", lambda *a, **k: (torch.rand(3), original(*a, **k))[1])
    base = ["train.steps=6", "train.checkpoint_every=0", "train.sample_every=0", "generator.hidden=16",
            "discriminator.hidden=16", "eval.n=200", "eval.metrics=[modes]"]
    weights = []
    for every in (0, 2):
        result = Trainer("ring8", [*base, f"eval.every={every}"]).fit()
        assert len(result.results) == (0 if every == 0 else 3 * 3)  # 3 outputs of modes at steps 2, 4 and 6
        weights.append(torch.cat([p.detach().flatten() for p in result.parts.G.parameters()]))
    assert torch.equal(*weights)


def test_reference_size_and_set_are_in_the_name_and_nan_samples_score_nan(tmp_path):
    """Results against another reference set never share a name; samples with NaN score NaN (a diverged run), not a
    LinAlgError; too few samples for a metric is one ConfigError naming --n or --reference-n."""
    from ganscape.loading import load_sampler
    from ganscape.metrics.evaluate import evaluate_sampler

    ref = {"name": "grid25", "n": 400}
    x = torch.randn(300, 2)
    names = lambda **kw: set(values(evaluate_samples(x, ["fid", "kid"], 300, ref, extractor="raw", **kw)))  # noqa: E731
    assert names() == {"fid300_raw", "kid300_raw"}
    assert names(reference_n=350) == {"fid300_raw_ref350", "kid300_raw_ref350"}
    assert names(reference_n=1000) == {"fid300_raw_ref400", "kid300_raw_ref400"}  # the data has 400: the name says so
    x[7, 1] = float("nan")
    scores = values(evaluate_samples(x, ["fid", "kid", "pr"], 300, ref, extractor="raw"))
    assert all(np.isnan(v) for v in scores.values())
    with pytest.raises(ConfigError, match=r"^--n \(eval.n\): k=3 nearest neighbours need at least 4 generated"):
        evaluate_samples(torch.randn(3, 2), ["pr"], 3, ref, extractor="raw")
    run = tmp_path / "ring"
    train(load_config("ring8", ["train.steps=2", "train.checkpoint_every=2", "generator.hidden=4",
                                "discriminator.hidden=4"]), run, show_progress=False)
    sampler = load_sampler(run)
    own = values(evaluate_sampler(sampler, ["fid"], 200, extractor="raw"))
    other = values(evaluate_sampler(sampler, ["fid"], 200, {"name": "grid25", "std": 0.05}, extractor="raw"))
    assert list(own) == ["fid200_raw"] and list(other) == ["fid200_raw_ref-grid25"]
    # a reference of another shape (grey against colour, another size) was a traceback from the FID's mu shapes
    with pytest.raises(ConfigError, match=r"--reference: its samples have shape \(1, 8, 8\), the run's \(2,\)"):
        evaluate_sampler(sampler, ["fid"], 200, {"name": "digits", "size": 8}, extractor="raw")


def test_kid_keeps_its_spread_when_only_one_set_is_subsampled():
    from ganscape.metrics.registry import Inputs, build_metric

    rng = np.random.default_rng(0)
    fake, real = rng.normal(size=(200, 4)), rng.normal(size=(500, 4))
    spread = build_metric({"name": "kid", "subset_size": 200}).compute(Inputs(fake_features=fake, real_features=real))
    whole = build_metric({"name": "kid", "subset_size": 500}).compute(Inputs(fake_features=fake, real_features=fake))
    assert spread["kid"][1] > 0 and whole["kid"][1] is None


@pytest.mark.parametrize("spec, message", [({"name": "pr", "k": 0}, "k: must be >= 1"),
                                           ({"name": "kid", "seed": -1}, "seed: must be >= 0"),
                                           ({"name": "is", "splits": 0}, "splits: must be >= 1"),
                                           ({"name": "modes", "threshold": 0}, "threshold is in standard deviations")])
def test_metric_options_out_of_range_are_refused_before_any_work(spec, message):
    with pytest.raises(ConfigError, match=message):
        load_config("ring8", [f"eval.metrics=[{json.dumps(spec)}]"])


def test_stacked_digits_default_metrics_need_no_inception_weights():
    from ganscape.metrics.protocol import EVAL_DEFAULTS, needs_inception

    assert not needs_inception(EVAL_DEFAULTS, (3, 16, 16), kind="stacked")
    assert needs_inception(EVAL_DEFAULTS, (3, 16, 16), kind="color")


def test_eval_images_reads_the_npz_that_sample_writes(tmp_path):
    from ganscape.cli.eval_images import load_samples

    images = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 1), dtype=np.uint8)
    np.savez(tmp_path / "samples.npz", images)  # as `ganscape sample --out samples.npz`: one array, arr_0
    assert load_samples(str(tmp_path / "samples.npz"), (1, 16, 16)).shape == (5, 1, 16, 16)


def test_eval_images_converts_colour_samples_alike_from_an_npz_and_from_image_files(tmp_path):
    """Colour samples against a grey reference: a folder of PNGs was converted to grey (Pillow's luma), the same
    images as an .npz were refused for their shape. Both now give the same grey images (to Pillow's uint8
    rounding), and grey samples against a colour reference repeat the grey channel."""
    from PIL import Image

    from ganscape.cli.eval_images import load_samples

    images = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    np.savez(tmp_path / "rgb.npz", x=images)
    (tmp_path / "pngs").mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / "pngs" / f"{i}.png")
    from_npz = load_samples(str(tmp_path / "rgb.npz"), (1, 16, 16))
    from_files = load_samples(str(tmp_path / "pngs"), (1, 16, 16))
    assert from_npz.shape == from_files.shape == (4, 1, 16, 16)
    assert (from_npz - from_files).abs().max() <= 2 / 255 + 1e-6  # both in [-1, 1]: one grey level is 2/255
    np.savez(tmp_path / "grey.npz", x=images[..., 0])
    colour = load_samples(str(tmp_path / "grey.npz"), (3, 16, 16))
    assert colour.shape == (4, 3, 16, 16) and torch.equal(colour[:, 0], colour[:, 2])


def test_a_rerun_from_another_folder_replaces_its_records(tmp_path, monkeypatch):
    """The replace key resolved a stored relative ``run`` against the current folder: ``eval r`` from the parent,
    ``eval .`` from inside and ``eval /abs/r`` left three rows for one checkpoint and metric (and a study's
    ``runs/task-0000`` rows were never replaced by ``eval STUDY/runs/task-0000``)."""
    run = tmp_path / "r"
    cfg = load_config("ring8", ["train.steps=10", "train.sample_every=0", "generator.hidden=8",
                                "discriminator.hidden=8"])
    train(cfg, run, show_progress=False)
    for folder, typed in ((tmp_path, "r"), (run, "."), (tmp_path / "r" / "checkpoints", str(run))):
        monkeypatch.chdir(folder)
        assert main(["eval", typed, "--metrics", "modes"]) == 0
    rows = read_results(run / RESULTS_FILE)
    assert sorted(r.metric for r in rows) == ["hq_share2500_toy", "modes2500_toy", "reverse_kl2500_toy"]
    assert {r.run for r in rows} == {str(run)}  # the last command's


def test_a_rerun_replaces_its_records_however_the_run_folder_is_typed(tmp_path, monkeypatch):
    """``eval runs/x`` then ``eval runs/x/`` (or its absolute path) kept both copies of each record."""
    from ganscape.results import Record, ResultsWriter, read_results

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "x").mkdir(parents=True)
    writer = ResultsWriter(tmp_path / "runs" / "x" / "results.jsonl")
    for run, value in (("runs/x", 1.0), ("runs/x/", 2.0), (str(tmp_path / "runs" / "x"), 3.0), ("runs/y", 4.0)):
        writer.write([Record(run, 10, "ckpt-00000010.pt", "fid64_raw", value, None, 64, "raw", 0.0)],
                     replace_existing=True)
    assert [(r.run, r.value) for r in read_results(writer.path)] == [(str(tmp_path / "runs" / "x"), 3.0),
                                                                     ("runs/y", 4.0)]


@pytest.mark.parametrize("bad", [float("inf"), -float("inf"), float("nan")])
def test_an_npz_of_samples_holding_inf_scores_nan_like_nan(tmp_path, bad):
    """The resize's clamp turned +-inf into 0 or 1, so an npz with an inf pixel scored a finite FID, silently."""
    from ganscape.cli.eval_images import load_samples

    x = np.random.default_rng(0).random((6, 16, 16), dtype=np.float32)
    x[2, 3, 4] = bad
    np.savez(tmp_path / "s.npz", x=x)
    loaded = load_samples(str(tmp_path / "s.npz"), (1, 16, 16))
    assert torch.isfinite(loaded).sum() == loaded.numel() - 1


def test_eval_does_not_append_through_a_linked_results_file(tmp_path, capsys):
    """A run folder from elsewhere linked results.jsonl to a file outside it (a shell start-up file): eval appended
    records whose run name could hold a command substitution."""
    run = tmp_path / "run"
    train(load_config("ring8", ["train.steps=4", "train.sample_every=0", "generator.hidden=8",
                                "discriminator.hidden=8"]), run, show_progress=False)
    outside = tmp_path / "bashrc"
    outside.write_text("# start-up file\n")
    (run / RESULTS_FILE).symlink_to(outside)
    assert main(["eval", str(run), "--metrics", "modes"]) == 2
    assert "results.jsonl: a symbolic link; ganscape does not write through links" in capsys.readouterr().err
    assert outside.read_text() == "# start-up file\n"


def test_toy_metrics_take_no_collective_under_torchrun(monkeypatch):
    """Under torchrun each rank draws the toy metrics' 2,500 points whole and scores them alone: no collective, so
    a script may score a toy run on rank 0 alone, as before evaluations learnt to raise one rank's error on every
    rank (a collective there would wait forever for the other ranks)."""
    from ganscape.data import build_dataset
    from ganscape.data.meta import data_meta
    from ganscape.distributed import data_parallel
    from ganscape.metrics import evaluate

    class NoCollective:
        def __getattr__(self, name):
            raise AssertionError(f"a collective: torch.distributed.{name}")

    monkeypatch.setattr(data_parallel, "dist", NoCollective())
    monkeypatch.setattr(data_parallel, "world", lambda: (0, 2))
    monkeypatch.setattr(evaluate, "world", lambda: (0, 2))
    data = build_dataset({"name": "ring8"})
    x, _ = data.get(torch.arange(2500))
    got = evaluate_samples(x, ["modes"], 2500, {"name": "ring8"}, data_meta=data_meta(data))
    assert {v.metric: v.value for v in got}["modes2500_toy"] == 8


def test_inception_weights_the_samples_do_not_use_are_said_once(caplog):
    """``eval RUN --inception-weights PATH`` on a toy run scored raw features and said nothing of the weights."""
    import logging

    from ganscape.features.extractor import build_extractor

    with caplog.at_level(logging.WARNING, logger="ganscape.metrics"):
        for _ in range(2):
            assert build_extractor("auto", (2,), {"name": "ring8"}, inception_weights="/no/such.pth").tag == "raw"
    told = [r.getMessage() for r in caplog.records if "inception-weights" in r.getMessage()]
    assert told == ["warning: --inception-weights /no/such.pth is not used: these samples are scored with the raw "
                    "features"]


@pytest.mark.parametrize("use_cache", [False, True])
def test_a_reference_holding_nan_is_refused_not_scored(tmp_path, use_cache):
    """A reference with NaN rows gave FID and KID NaN with no word, and precision, recall, density and coverage
    finite but without those rows (every comparison with a NaN radius is false); the NaN features were cached."""
    from ganscape.metrics.evaluate import evaluate_samples

    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 8))
    real[:6] = np.nan
    np.savez(tmp_path / "ref.npz", x=real)
    fake = torch.from_numpy(rng.normal(size=(200, 8))).float()
    with pytest.raises(ConfigError, match=r"--reference: 6 of 200 reference samples give NaN or inf features"):
        evaluate_samples(fake, ["fid", "pr"], 200, {"name": "npz", "path": str(tmp_path / "ref.npz")},
                         extractor="raw", cache_dir=str(tmp_path / "cache"), use_cache=use_cache)
    assert [path for path in (tmp_path / "cache").rglob("*") if path.is_file()] == []  # nothing cached


def test_options_no_metric_asked_for_reads_are_named_in_one_warning(tmp_path, caplog):
    """``eval --metrics modes --extractor inception --reference-n 50 --classifier digits`` scored the toy protocol and
    said nothing of the three options it did not use."""
    train(load_config("ring8", ["train.steps=4", "train.checkpoint_every=4", "train.sample_every=0"]), tmp_path / "r",
          show_progress=False)
    args = ["eval", str(tmp_path / "r"), "--n", "100", "--metrics", "modes", "--extractor", "inception",
            "--reference-n", "50", "--classifier", "digits"]
    assert main(args) == 0
    assert ("warning: --extractor inception, --reference-n 50, --classifier digits: not used by the metrics asked "
            "for (modes)") in caplog.text


def test_warn_once_says_each_key_once_per_logger(caplog):
    """The one rule behind the two ignored-option warnings above: a key once per logger, another key again."""
    import logging

    from ganscape.utils.logs import warn_once

    log = logging.getLogger("ganscape.test_warn_once")
    with caplog.at_level(logging.WARNING, logger=log.name):
        said = [warn_once(log, key, "warning: %s", key) for key in ("a", "b", "a", ("a",), "b")]
    assert said == [True, True, False, True, False]
    assert [r.getMessage() for r in caplog.records] == ["warning: a", "warning: b", "warning: ('a',)"]
