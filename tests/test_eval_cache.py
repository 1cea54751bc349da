"""Evaluation's per-process caches change no number: the feature network is built once, the reference features and
what metrics derive from them are reused, the BLAS thread limit and the k-NN options give the same values."""
import numpy as np
import pytest
import torch

from ganscape.features import extractor as ext_mod
from ganscape.features import lenet
from ganscape.metrics import cache
from ganscape.metrics import reference as ref_mod
from ganscape.metrics.evaluate import blas_threads, evaluate_samples
from ganscape.metrics.fid import fid_from_features
from ganscape.metrics.kid import kid
from ganscape.metrics.precision_recall import kth_neighbour_radii, prdc

REF = {"name": "digits", "size": 16}
METRICS = ["fid", {"name": "kid", "subsets": 20, "subset_size": 100}, "pr", "dc", "is"]


@pytest.fixture(scope="module")
def classifier_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("classifier")


@pytest.fixture(autouse=True)
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("GANSCAPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(lenet.RECIPE, "steps", 60)  # a tiny classifier: these tests compare paths, not quality
    ext_mod.clear_extractors()
    cache.clear()
    yield
    ext_mod.clear_extractors()
    cache.clear()


def fakes(seed: int, n: int = 200) -> torch.Tensor:
    from ganscape.data import build_dataset

    x, _ = build_dataset(REF).get(torch.arange(300))
    g = torch.Generator().manual_seed(seed)
    return (x[torch.randperm(300, generator=g)[:n]] + 0.3 * torch.randn(n, *x.shape[1:], generator=g)).clamp(-1, 1)


def table(values) -> dict:
    return {v.metric: (v.value, v.std) for v in values}


def test_cached_path_gives_the_uncached_values(classifier_cache):
    x1, x2 = fakes(1), fakes(2)
    run = dict(reference_n=250, cache_dir=str(classifier_cache))
    uncached = [table(evaluate_samples(x, METRICS, 200, REF, use_cache=False, **run)) for x in (x1, x2)]
    first = table(evaluate_samples(x1, METRICS, 200, REF, **run))    # builds and keeps
    second = table(evaluate_samples(x2, METRICS, 200, REF, **run))   # reuses: network, features, stats, radii
    again = table(evaluate_samples(x1, METRICS, 200, REF, **run))
    assert first == uncached[0] == again and second == uncached[1]
    assert {"fid200_lenet-digits_ref250", "kid200_lenet-digits_subset_size100_subsets20_ref250",
            "precision200_lenet-digits_ref250", "recall200_lenet-digits_ref250", "density200_lenet-digits_ref250",
            "coverage200_lenet-digits_ref250"} <= set(first)
    assert first != second


def test_a_reference_cache_that_cannot_be_written_is_a_warning(classifier_cache, monkeypatch, caplog):
    """A full or read-only cache folder: the features just computed are used, with one warning. It was an OSError
    after the reference had been featurised (and, under torchrun, on some ranks only)."""
    def full(path):
        raise OSError(28, "No space left on device")

    run = dict(reference_n=240, cache_dir=str(classifier_cache))  # an n no other test caches
    want = table(evaluate_samples(fakes(1), ["fid"], 200, REF, use_cache=False, **run))
    monkeypatch.setattr(ref_mod, "atomic_path", full)
    assert table(evaluate_samples(fakes(1), ["fid"], 200, REF, **run)) == want
    assert "not written (" in caplog.text and "No space left on device" in caplog.text


def test_the_extractor_and_the_reference_are_built_once_across_evaluations(classifier_cache, monkeypatch):
    built, fingerprinted = [], []
    digit_classifier, data_fingerprint = lenet.digit_classifier, ref_mod.data_fingerprint
    monkeypatch.setattr(lenet, "digit_classifier", lambda *a, **k: built.append(1) or digit_classifier(*a, **k))
    monkeypatch.setattr(ref_mod, "data_fingerprint", lambda *a: fingerprinted.append(1) or data_fingerprint(*a))
    for seed in (1, 2):
        evaluate_samples(fakes(seed), ["fid", "kid", "dc"], 200, REF, reference_n=250, cache_dir=str(classifier_cache))
    assert len(built) == 1 and len(fingerprinted) == 1
    # another device, cache folder or classifier recipe is another network
    monkeypatch.setitem(lenet.RECIPE, "steps", 61)
    evaluate_samples(fakes(1), ["fid"], 200, REF, reference_n=250, cache_dir=str(classifier_cache))
    assert len(built) == 2


def test_kept_reference_features_are_read_only_and_keyed(classifier_cache):
    ext = ext_mod.build_extractor("lenet", (1, 16, 16), REF, cache_dir=str(classifier_cache))
    assert ext_mod.build_extractor("lenet", (1, 16, 16), {**REF, "size": 8}, cache_dir=str(classifier_cache)) is ext
    a, key = ref_mod.reference_features(REF, 120, ext)
    b, _ = ref_mod.reference_features(REF, 120, ext)
    c, _ = ref_mod.reference_features(REF, 130, ext)
    fresh, fresh_key = ref_mod.reference_features(REF, 120, ext, use_cache=False)
    assert a is b and len(c) == 130 and key == fresh_key
    np.testing.assert_array_equal(a, fresh)
    with pytest.raises(ValueError):
        a[0, 0] = 1.0


def test_blas_thread_limit_and_knn_options_change_no_value():
    rng = np.random.default_rng(0)
    f1, f2 = np.maximum(rng.normal(size=(400, 64)), 0), np.maximum(rng.normal(size=(300, 64)) + 0.2, 0)
    free = kid(f1, f2, 30, 200), fid_from_features(f1, f2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with blas_threads():
            limited = kid(f1, f2, 30, 200), fid_from_features(f1, f2)
    finally:
        torch.set_num_threads(threads)
    assert limited == free
    full = prdc(f1, f2, k_pr=3, k_dc=5, chunk=128)
    radii = kth_neighbour_radii(torch.as_tensor(f1), (3, 5))
    assert prdc(f1, f2, 3, 5, chunk=128, outputs=("density", "coverage"), real_radii=radii) == \
        {"density": full["density"], "coverage": full["coverage"]}
    assert prdc(f1, f2, 3, 5, chunk=128, outputs=("precision", "recall")) == \
        {"precision": full["precision"], "recall": full["recall"]}
    read_only = f1.copy()
    read_only.setflags(write=False)
    assert prdc(read_only, f2, 3, 5, chunk=128) == full
