"""Every metric formula pinned against an independent numpy/scipy computation, plus known cases."""
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from scipy.spatial.distance import cdist

from ganscape.metrics import fid, inception_score, kid, modified_is, precision_recall
from ganscape.metrics.modes import stacked_mode_metrics, toy_mode_metrics


def features(seed, n=300, d=16, shift=0.0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / math.sqrt(d)
    return rng.normal(size=(n, d)) @ mix + shift


def scipy_fid(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fid_matches_scipy_sqrtm():
    a, b = features(0), features(1, n=250, shift=0.3)
    assert fid.fid_from_features(a, b) == pytest.approx(scipy_fid(a, b), rel=1e-6)


def test_fid_of_a_set_with_itself_is_zero():
    a = features(2)
    assert abs(fid.fid_from_features(a, a)) < 1e-9


def test_fid_is_never_negative():
    """FID is a squared distance; rounding in the square root's eigenvalues made a set with fewer samples than
    dimensions score -3.8e-6 against itself."""
    a = np.random.default_rng(0).standard_normal((50, 128))
    assert 0.0 <= fid.fid_from_features(a, a) < 1e-5


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([4.0, 1.0, 1.0])
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert fid.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-12)


def test_fid_handles_rank_deficient_covariances():
    a, b = features(3, n=10, d=32), features(4, n=12, d=32)   # fewer samples than dims
    assert fid.fid_from_features(a, b) == pytest.approx(scipy_fid(a, b), rel=1e-5)


def loop_kid(x, y, idx_x, idx_y):
    """Independent KID: one subset at a time, kernel matrices written out in full."""
    d = x.shape[1]
    values = []
    for ix, iy in zip(idx_x, idx_y):
        a, b = x[ix], y[iy]
        m = len(ix)
        kxx, kyy, kxy = [(u @ v.T / d + 1) ** 3 for u, v in ((a, a), (b, b), (a, b))]
        values.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                      - 2 * kxy.mean())
    return np.mean(values), np.std(values)


def test_kid_matches_loop_reference():
    a, b = features(5, n=120), features(6, n=140, shift=0.2)
    mean, std = kid.kid(a, b, subsets=7, subset_size=50, seed=3)
    idx_x, idx_y = kid.subset_indices(120, 140, 50, 7, 3)
    ref_mean, ref_std = loop_kid(a, b, idx_x, idx_y)
    assert mean == pytest.approx(ref_mean, rel=1e-6)
    assert std == pytest.approx(ref_std, rel=1e-6)


def test_kid_subsets_draw_without_replacement_and_shrink_to_the_smaller_set():
    idx_x, idx_y = kid.subset_indices(30, 40, 25, 4, 0)
    assert all(len(set(row)) == 25 for row in np.concatenate([idx_x, idx_y]))
    a, b = features(7, n=30), features(8, n=40)
    mean, _ = kid.kid(a, b, subsets=4, subset_size=1000, seed=0)   # m becomes 30
    ref, _ = loop_kid(a, b, *kid.subset_indices(30, 40, 30, 4, 0))
    assert mean == pytest.approx(ref, rel=1e-6)


def test_kid_is_unbiased_near_zero_for_one_distribution():
    both = features(9, n=800)
    mean, _ = kid.kid(both[:400], both[400:], subsets=20, subset_size=200)
    assert abs(mean) < 0.02


def softmax_rows(seed, n=200, c=7):
    logits = np.random.default_rng(seed).normal(size=(n, c)) * 2
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_inception_score_matches_independent_computation():
    p = softmax_rows(0, n=205)
    scores = []
    for chunk in np.array_split(p, 10):
        py = chunk.mean(0)
        scores.append(math.exp(np.mean([sum(pi * math.log(pi / q) for pi, q in zip(row, py)) for row in chunk])))
    mean, std = inception_score.inception_score(p, splits=10)
    assert mean == pytest.approx(np.mean(scores), rel=1e-10)
    assert std == pytest.approx(np.std(scores), rel=1e-8)


def test_inception_score_of_one_hot_uniform_predictions_is_the_class_count():
    p = np.eye(10)[np.arange(1000) % 10]
    mean, std = inception_score.inception_score(p, splits=10)
    assert mean == pytest.approx(10.0, rel=1e-12) and std == pytest.approx(0.0, abs=1e-12)
    assert inception_score.inception_score(np.eye(10)[np.zeros(100, int)], splits=2)[0] == pytest.approx(1.0)


def test_modified_inception_score_matches_brute_force_double_loop():
    p = softmax_rows(1, n=120, c=5)
    pred = p.argmax(1)
    scores = []
    for c in np.unique(pred):
        group = p[pred == c]
        diffs = [np.mean([np.sum(pi * np.log(pi / pj)) for pj in group]) for pi in group]
        scores.append(math.exp(np.mean(diffs)))
    mean, std = modified_is.modified_inception_score(p)
    assert mean == pytest.approx(np.mean(scores), rel=1e-9)
    assert std == pytest.approx(np.std(scores), rel=1e-7)


def test_modified_inception_score_is_one_for_identical_predictions_per_class():
    rows = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.25, 0.25, 0.5]])   # distinct argmax
    p = np.repeat(rows, 10, axis=0)
    assert modified_is.modified_inception_score(p) == pytest.approx((1.0, 0.0))


def brute_prdc(real, fake, k_pr=3, k_dc=5):
    rr, ff, rf = cdist(real, real), cdist(fake, fake), cdist(real, fake)
    rad_r = {k: np.sort(rr, axis=1)[:, k] for k in (k_pr, k_dc)}
    rad_f = np.sort(ff, axis=1)[:, k_pr]
    precision = np.mean([(rf[:, j] < rad_r[k_pr]).any() for j in range(len(fake))])
    recall = np.mean([(rf[i, :] < rad_f).any() for i in range(len(real))])
    density = sum((rf[:, j] < rad_r[k_dc]).sum() for j in range(len(fake))) / (k_dc * len(fake))
    coverage = np.mean([rf[i].min() < rad_r[k_dc][i] for i in range(len(real))])
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


def test_prdc_matches_brute_force_with_chunking():
    real, fake = features(11, n=90, d=5), features(12, n=70, d=5, shift=0.4)
    ours = precision_recall.prdc(real, fake, chunk=16)
    ref = brute_prdc(real, fake)
    for key in ref:
        assert ours[key] == pytest.approx(ref[key], abs=1e-12), key


def test_prdc_with_equal_k_for_both_pairs():
    real, fake = features(13, n=60, d=4), features(14, n=50, d=4)
    ours = precision_recall.prdc(real, fake, k_pr=5, k_dc=5, chunk=16)
    ref = brute_prdc(real, fake, k_pr=5, k_dc=5)
    for key in ref:
        assert ours[key] == pytest.approx(ref[key], abs=1e-12), key


def test_prdc_uses_strict_inequality():
    # Lattice 0..9: the real point 0 has its 3rd neighbour (3) at distance 3, so the fake
    # at -3 lies exactly on its ball's boundary and does not count; 4.5 is inside.
    real = np.arange(10, dtype=float)[:, None]
    fake = np.array([[-3.0], [4.5], [100.0], [200.0], [300.0]])
    out = precision_recall.prdc(real, fake, k_pr=3, k_dc=3)
    assert out["precision"] == pytest.approx(1 / 5)


def test_toy_modes_on_exact_centres():
    centers = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    out = toy_mode_metrics(centers.repeat(25, 1), centers, std=0.01)
    assert out == {"modes": 4, "hq_share": 1.0, "reverse_kl": pytest.approx(0.0, abs=1e-12)}
    one = toy_mode_metrics(centers[:1].repeat(10, 1), centers, std=0.01)
    assert one["modes"] == 1 and one["reverse_kl"] == pytest.approx(math.log(4))
    far = toy_mode_metrics(torch.full((5, 2), 9.0), centers, std=0.01)
    assert far["hq_share"] == 0.0 and far["modes"] == 0


def test_stacked_modes_counts_tuples_and_kl_to_uniform():
    all_modes = torch.tensor([[i // 100, (i // 10) % 10, i % 10] for i in range(1000)])
    out = stacked_mode_metrics(all_modes)
    assert out["modes"] == 1000 and out["kl"] == pytest.approx(0.0, abs=1e-12)
    half = stacked_mode_metrics(all_modes[:500].repeat(2, 1))
    assert half["modes"] == 500 and half["kl"] == pytest.approx(math.log(2))
    assert stacked_mode_metrics(torch.tensor([[1, 2, 3]] * 7))["kl"] == pytest.approx(math.log(1000))
    for outside in ([[0, 0, 12]], [[9, 9, 10]], [[0, -1, 2]]):  # folded into (0, 1, 2), past 999, or negative
        with pytest.raises(ValueError, match=r"digit predictions must lie in 0\.\.9"):
            stacked_mode_metrics(torch.tensor(outside))
