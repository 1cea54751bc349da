"""Stacked MNIST (1,000 modes): the stacked datasets and the VEEGAN/PacGAN mode-counting protocol end to end."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import MNIST_DIR, need_data
from ganscape.data import build_dataset, data_meta
from ganscape.data.stacked import digit_source
from ganscape.features import build_extractor, lenet
from ganscape.features.extractor import extract
from ganscape.metrics import metric_family
from ganscape.metrics.evaluate import evaluate_samples

STACKED = {"name": "stacked_digits", "size": 16}
RANKS_DRIVER = Path(__file__).with_name("eval_ranks_driver.py")


def values(got) -> dict[str, float]:
    return {metric_family(v.metric): v.value for v in got}


def test_a_stacked_sample_is_three_source_digits_as_channels():
    data = build_dataset({**STACKED, "n": 50, "seed": 3})
    source = build_dataset({"name": "digits", "size": 16})
    x, y = data.get(torch.arange(50))
    assert x.shape == (50, 3, 16, 16) and data.num_classes == 1000 and data_meta(data)["kind"] == "stacked"
    for i in (0, 17, 49):
        triple = data.triples[i]
        assert all(torch.equal(x[i, c], source.x[triple[c], 0]) for c in range(3))
        assert int(y[i]) == 100 * int(source.y[triple[0]]) + 10 * int(source.y[triple[1]]) + int(source.y[triple[2]])
    again, _ = build_dataset({**STACKED, "n": 50, "seed": 3}).get(torch.arange(50))
    assert torch.equal(x, again)  # seeded


@pytest.fixture(scope="module")
def classifier_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("lenet")


def test_a_uniform_sampler_of_real_stacked_digits_covers_all_1000_modes(monkeypatch, classifier_cache):
    monkeypatch.setitem(lenet.RECIPE, "steps", 300)
    x, _ = build_dataset({**STACKED, "n": 26_000, "seed": 1}).get(torch.arange(26_000))
    out = values(evaluate_samples(x, ["stacked_modes"], 26_000, STACKED, cache_dir=classifier_cache))
    assert out["stacked_modes"] == 1000
    assert out["stacked_kl"] < 0.05  # sampling noise of 26k draws over 1000 modes is ~0.02 nats


def test_one_digit_triple_per_class_is_ten_modes(monkeypatch, classifier_cache):
    monkeypatch.setitem(lenet.RECIPE, "steps", 300)
    source = build_dataset({"name": "digits", "size": 16})
    classifier = build_extractor("lenet", (1, 16, 16), {"name": "digits", "size": 16}, cache_dir=classifier_cache)
    _, probs = extract(classifier, source.x, 256, want_features=False, want_probs=True)
    agreed = torch.from_numpy(probs.argmax(1)) == source.y
    firsts = [int(torch.nonzero((source.y == c) & agreed)[0]) for c in range(10)]  # one image per class
    triple = torch.stack([source.x[i, 0].expand(3, 16, 16) for i in firsts])  # (10, 3, 16, 16): (c, c, c)
    x = triple.repeat(100, 1, 1, 1)
    out = values(evaluate_samples(x, ["stacked_modes"], 1000, STACKED, cache_dir=classifier_cache))
    assert out["stacked_modes"] == 10
    assert out["stacked_kl"] == pytest.approx(math.log(100), abs=1e-9)  # 10 equal modes of 1000


def test_the_classifier_trains_on_the_source_digits():
    assert digit_source(STACKED) == {"name": "digits", "size": 16}
    assert digit_source({"name": "stacked_mnist", "root": "/nowhere", "split": "auto"})["split"] == "test"
    assert digit_source({"name": "ring8"}) is None


def test_stacked_mnist_falls_back_to_the_test_split_when_the_training_files_are_absent():
    root = need_data(MNIST_DIR, "the MNIST test set")
    data = build_dataset({"name": "stacked_mnist", "root": str(root), "n": 100})
    assert data.info["digit_source"]["split"] == ("train" if (root / "train-images-idx3-ubyte.gz").exists() else "test")
    x, y = data.get(torch.arange(4))
    assert x.shape == (4, 3, 28, 28) and int(y.max()) < 1000


def test_scores_shared_by_two_ranks_equal_one_process(tmp_path, monkeypatch, classifier_cache):
    """Under torchrun each rank scores its share of the samples (here 500 and 600 of 1,100: chunks of 500) and
    featurises its share of the reference samples (512 and 588 of 1,100 in chunks of 256), and the shares' classifier
    outputs and features are joined in order on rank 0, which alone holds them and the reference features and computes
    the values, which every rank then has: Stacked-MNIST modes, and FID and IS of single digits through the same
    LeNet, equal one process's. Before, every rank featurised all 1,100 reference digits; later every rank held the
    joined features and computed every metric."""
    monkeypatch.setitem(lenet.RECIPE, "steps", 300)
    stacked, _ = build_dataset({**STACKED, "n": 1100, "seed": 2}).get(torch.arange(1100))
    digits = build_dataset({"name": "digits", "size": 16}).x[:1100]
    jobs = [{"samples": str(tmp_path / "stacked.pt"), "metrics": ["stacked_modes"], "n": 1100, "reference": STACKED},
            {"samples": str(tmp_path / "digits.pt"), "metrics": ["fid", "is"], "n": 1100,
             "reference": {"name": "digits", "size": 16}}]
    fresh = tmp_path / "fresh-cache"  # the trained classifier without reference entries
    shutil.copytree(classifier_cache, fresh, ignore=shutil.ignore_patterns("reference"))
    jobs += [{**jobs[1], "use_cache": True},  # rank 0 finds the features that `alone` cached: none featurised
             {**jobs[1], "use_cache": True, "cache_dir": str(fresh)},  # shared; rank 0 writes the entry
             {**jobs[1], "use_cache": True, "cache_dir": str(fresh)}]  # which rank 0 then finds in its memory
    torch.save(stacked, jobs[0]["samples"])
    torch.save(digits, jobs[1]["samples"])
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    alone = [{v.metric: v.value for v in evaluate_samples(torch.load(job["samples"], weights_only=True), job["metrics"],
                                                         job["n"], job["reference"], cache_dir=classifier_cache)}
             for job in jobs[:2]]
    alone += [alone[1]] * 3
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(RANKS_DRIVER),
           str(tmp_path / "jobs.json"), str(tmp_path), "--cache-dir", str(classifier_cache), "--lenet-steps", "300",
           "--reference-chunk", "256"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank-{rank}.json").read_text()) for rank in (0, 1)]
    assert [rank["reference"] for rank in ranks] == [[0, 512, 0, 512, 0], [0, 588, 0, 588, 0]]
    assert [rank["computed"] for rank in ranks] == [["stacked_modes"] + ["fid", "is"] * 4, []]
    assert [rank["held"] for rank in ranks] == [[1100] * 4, [None] * 4]
    assert len(list((fresh / "reference").glob("*.npz"))) == 1
    assert len(alone[1]) == 2 and {metric_family(k): v for k, v in alone[0].items()}["stacked_modes"] > 500
    for rank in ranks:
        assert [sorted(job) for job in rank["values"]] == [sorted(job) for job in alone]
        for job_shared, job_alone in zip(rank["values"], alone):
            for name, value in job_alone.items():
                assert job_shared[name] == pytest.approx(value, rel=1e-9), name


def test_a_rank_failing_on_its_share_stops_every_rank_with_its_error(tmp_path, monkeypatch, classifier_cache):
    """A rank that raises on its share of the work (out of memory, say: taking its share of the samples, featurising
    it, featurising its share of the reference, rank 0 making room for the joined rows) used to leave the others
    waiting in their next collective until torchrun stopped them (or forever under a launcher that does not): now
    every rank raises, each its own error or else the lowest failing rank's, and the ranks stay in step: the next job
    is scored as before."""
    monkeypatch.setitem(lenet.RECIPE, "steps", 300)
    digits = build_dataset({"name": "digits", "size": 16}).x[:600]
    stacked, _ = build_dataset({**STACKED, "n": 600, "seed": 2}).get(torch.arange(600))
    torch.save(digits, tmp_path / "digits.pt")
    torch.save(stacked, tmp_path / "stacked.pt")
    job = {"samples": str(tmp_path / "digits.pt"), "metrics": ["fid"], "n": 600,
           "reference": {"name": "digits", "size": 16}}
    stacked_job = {"samples": str(tmp_path / "stacked.pt"), "metrics": ["stacked_modes"], "n": 600,
                   "reference": STACKED}
    failures = [(job, [1], "generation"), (job, [1], "samples"), (job, [1], "reference"), (job, [0], "reference"),
                (job, [0], "gather"), (stacked_job, [1], "samples"), (job, [0, 1], "samples")]
    jobs = [{**failing_job, "fail": {"ranks": ranks, "in": where}} for failing_job, ranks, where in failures]
    (tmp_path / "jobs.json").write_text(json.dumps(jobs + [job]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(RANKS_DRIVER),
           str(tmp_path / "jobs.json"), str(tmp_path), "--cache-dir", str(classifier_cache), "--lenet-steps", "300",
           "--reference-chunk", "256"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank-{rank}.json").read_text())["values"] for rank in (0, 1)]

    def error(rank: int, where: str) -> dict:
        return {"error": ["MemoryError", f"rank {rank}: no memory for its share of the {where} (simulated)"]}

    for got, (_, failing, where) in zip(zip(*ranks), failures):
        assert list(got) == [error(rank if rank in failing else failing[0], where) for rank in (0, 1)]
    alone = evaluate_samples(digits, ["fid"], 600, job["reference"], cache_dir=classifier_cache)
    assert ranks[0][-1] == ranks[1][-1] and ranks[0][-1][alone[0].metric] == pytest.approx(alone[0].value, rel=1e-9)


def test_a_digit_classifier_of_other_than_ten_classes_is_refused(tmp_path, monkeypatch, classifier_cache):
    """Its class ids were folded into other triples (a 12 in the last place counted as (0, 1, 2)) or past the 1,000
    modes, under the usual stacked_modes name."""
    import numpy as np

    from ganscape.registry import ConfigError

    monkeypatch.setitem(lenet.RECIPE, "steps", 20)
    source = build_dataset({"name": "digits", "size": 16})
    three = source.y < 3
    np.savez(tmp_path / "three.npz", x=source.x[three].numpy(), y=source.y[three].numpy())
    x, _ = build_dataset({**STACKED, "n": 100, "seed": 1}).get(torch.arange(100))
    with pytest.raises(ConfigError, match=r"stacked_modes: the digit classifier \(.*\) tells 3 classes; Stacked "
                                          r"MNIST counts triples of 10 digits"):
        evaluate_samples(x, ["stacked_modes"], 100, STACKED, cache_dir=classifier_cache,
                         classifier={"name": "npz", "path": str(tmp_path / "three.npz")})
