"""Feature extractors: the FID Inception-v3 layout and preprocessing (random weights), the
weights loader, and the self-trained digit classifier with its cache."""
import numpy as np
import pytest
import torch

from ganscape.features import build_extractor, extract
from ganscape.features import inception, lenet
from ganscape.registry import ConfigError


def test_inception_parameter_count_matches_torchvision_trunk():
    # torchvision inception_v3 has 27,161,264 parameters; minus AuxLogits (3,326,696) and
    # its 1000-way fc (2,049,000) leaves the trunk the FID network shares with it.
    net = inception.FIDInceptionV3(fc=False)
    assert sum(p.numel() for p in net.parameters()) == 27_161_264 - 3_326_696 - 2_049_000
    assert "Mixed_7c.branch3x3dbl_3b.bn.running_var" in net.state_dict()


def bilinear_1d(v, out):
    """Independent align_corners=False bilinear resampling of a 1-D signal."""
    n = len(v)
    src = np.clip((np.arange(out) + 0.5) * n / out - 0.5, 0, n - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    w = src - lo
    return v[lo] * (1 - w) + v[hi] * w


def test_inception_preprocessing_is_bilinear_299_then_2x_minus_1():
    img = torch.rand(1, 3, 5, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = inception.preprocess(img).double()
    ref = np.array([[bilinear_1d(row, 299) for row in bilinear_1d_cols(img[0, c].numpy())] for c in range(3)])
    assert out.shape == (1, 3, 299, 299)
    np.testing.assert_allclose(out[0].numpy(), 2 * ref - 1, atol=1e-5)
    same = torch.rand(2, 3, 299, 299)
    assert torch.equal(inception.preprocess(same), 2 * same - 1)


def bilinear_1d_cols(a):
    return np.stack([bilinear_1d(a[:, j], 299) for j in range(a.shape[1])], axis=1)


def test_inception_features_shape_and_sample_range(tmp_path):
    torch.manual_seed(0)
    net = inception.FIDInceptionV3().eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1                     # ganscape samples live in [-1, 1]
    feats = net.features(x)
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all()
    assert torch.allclose(feats, net.pool((x + 1) / 2))
    assert net.logits(x).shape == (2, 1008)
    with torch.no_grad():
        net.fc.bias.uniform_(-3, 3)  # IS takes the logits without the fc bias (the original code's, torch-fidelity's)
    torch.testing.assert_close(net.logits(x), feats @ net.fc.weight.T)


def test_inception_weights_load_from_pth_and_safetensors(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    net = inception.FIDInceptionV3().eval()
    for m in net.modules():   # non-trivial BN statistics so loading them matters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    state = net.state_dict()
    torch.save({"module." + k: v for k, v in state.items()}, tmp_path / "w.pth")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "w.safetensors"))
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    want = net.features(x)
    for name in ("w.pth", "w.safetensors"):
        loaded = inception.load_fid_inception(tmp_path / name)
        assert loaded.has_fc and len(loaded.fingerprint) == 16
        assert torch.allclose(loaded.features(x), want, atol=1e-5)


def test_inception_weights_errors(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        inception.load_fid_inception(tmp_path / "absent.pth")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ConfigError, match="does not match"):
        inception.load_fid_inception(tmp_path / "bad.pth")
    torch.save({"obj": object()}, tmp_path / "pickle.pth")       # not weights-only: refused
    with pytest.raises(ConfigError, match="not a torch weights file readable with weights_only"):
        inception.load_fid_inception(tmp_path / "pickle.pth")
    with pytest.raises(ConfigError, match="inception-weights"):
        build_extractor("auto", (3, 32, 32), {"name": "digits"})
    # torchvision's ImageNet layout (1000-class fc) and a broken safetensors header were tracebacks
    state = inception.FIDInceptionV3().state_dict()
    torch.save({**state, "fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)}, tmp_path / "fc1000.pth")
    with pytest.raises(ConfigError, match=r"1 tensors of another shape|2 tensors of another shape"):
        inception.load_fid_inception(tmp_path / "fc1000.pth")
    (tmp_path / "bad.safetensors").write_bytes(b"\x10" + b"\0" * 7 + b"{not json}      ")
    with pytest.raises(ConfigError, match="is not a readable safetensors file"):
        inception.load_fid_inception(tmp_path / "bad.safetensors")


def test_other_inception_weights_do_not_share_the_published_protocol_name(tmp_path):
    """FIDs with other weights were named ``fid..._inception`` like the official ones, and replaced each other."""
    from ganscape.features.extractor import inception_tag

    torch.save(inception.FIDInceptionV3().state_dict(), tmp_path / "w.pth")
    extractor = build_extractor("inception", (3, 32, 32), {"name": "cifar10"}, inception_weights=tmp_path / "w.pth")
    assert extractor.tag == f"inception-{extractor.fingerprint[:8]}"
    assert inception_tag(inception.OFFICIAL_SHA256_PREFIX + "00000000") == "inception"


DIGITS = {"name": "digits", "size": 16}
TINY = {"steps": 150, "batch_size": 64}


def test_digit_classifier_tag_names_the_data_it_learnt(tmp_path):
    """Classifiers of other data get other tags, so the metric names built on them never collide: the tag ignored
    invert/rotate and the MNIST split, and FID on inverted digits was named as FID on plain ones."""
    inverted = lenet.digit_classifier({**DIGITS, "invert": True, "rotate": 90}, cache_dir=tmp_path, recipe=TINY)
    plain = lenet.digit_classifier(DIGITS, cache_dir=tmp_path, recipe=TINY)
    assert (plain.tag, inverted.tag) == ("lenet-digits", "lenet-digits-invert-rotate90")
    assert len(list((tmp_path / "classifiers").glob("lenet-digits-invert-rotate90-*.safetensors"))) == 1


def test_digit_classifier_trains_caches_and_reloads(tmp_path, monkeypatch):
    model = lenet.digit_classifier(DIGITS, cache_dir=tmp_path, recipe=TINY)
    files = list((tmp_path / "classifiers").glob("lenet-digits-*.safetensors"))
    assert len(files) == 1 and model.fingerprint in files[0].name and lenet.CODE_VERSION in files[0].name
    assert model.accuracy > 0.8          # held-out 20% of the 1,797 digits after 150 steps
    for size in (8, 16, 28, 40):
        x = torch.rand(3, 1, size, size) * 2 - 1
        assert model.features(x).shape == (3, 128) and model.logits(x).shape == (3, 10)

    def no_training(*args, **kwargs):
        raise AssertionError("a cached classifier must be reused, not retrained")

    monkeypatch.setattr(lenet, "train_net", no_training)
    again = lenet.digit_classifier({**DIGITS, "size": 32}, cache_dir=tmp_path, recipe=TINY)  # size is normalised
    assert again.fingerprint == model.fingerprint and again.accuracy == model.accuracy
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    assert torch.equal(again.logits(x), model.logits(x))
    with pytest.raises(AssertionError):   # another recipe is another cache entry
        lenet.digit_classifier(DIGITS, cache_dir=tmp_path, recipe={**TINY, "steps": 151})


def test_digit_classifier_leaves_the_global_rng_alone(tmp_path):
    """Neither training the classifier nor loading it from the cache (which builds the net before its weights are
    loaded) draws from the global RNG."""
    torch.manual_seed(123)
    before = torch.get_rng_state()
    lenet.digit_classifier(DIGITS, cache_dir=tmp_path, recipe={"steps": 5})
    assert torch.equal(torch.get_rng_state(), before)
    lenet.digit_classifier(DIGITS, cache_dir=tmp_path, recipe={"steps": 5})  # from the cache
    assert torch.equal(torch.get_rng_state(), before)


def test_digit_classifier_rejects_unlabelled_or_colour_data(tmp_path):
    with pytest.raises(ConfigError, match="1-channel"):
        lenet.digit_classifier({"name": "ring8"}, cache_dir=tmp_path)


def test_extract_batches_and_raw_extractor():
    ext = build_extractor("auto", (2,), {"name": "ring8"})
    x = torch.randn(7, 2)
    feats, probs = extract(ext, x, batch=3)
    assert ext.tag == "raw" and probs is None
    np.testing.assert_array_equal(feats, x.double().numpy())
    with pytest.raises(ConfigError, match="classifier head"):
        extract(ext, x, want_probs=True)


def test_concurrent_processes_train_the_classifier_once(tmp_path):
    """Two study workers with an empty cache: one trains the classifier, the other waits and loads it."""
    import subprocess
    import sys

    code = ("import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stderr);"
            "from ganscape.features.lenet import digit_classifier;"
            f"c = digit_classifier({{'name': 'digits'}}, cache_dir={str(tmp_path)!r}, recipe={{'steps': 150}});"
            "print(c.fingerprint, c.accuracy)")
    workers = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    assert sum(err.count("training the lenet-digits digit classifier") for _, err in outputs) == 1
    assert outputs[0][0] == outputs[1][0]  # the same classifier, the same held-out accuracy


def test_scoring_pool_equals_max_pool2d_of_relu_exactly(monkeypatch):
    """The classifier's scoring path (``relu_pool`` without autograd, which never calls max_pool2d) gives the values
    of ``max_pool2d(relu(h), 2)``, ties, NaN and odd sizes included, and a DigitNet scores the same logits with and
    without autograd."""
    import torch.nn.functional as F
    from ganscape.features import lenet
    from ganscape.features.lenet import DigitNet, relu_pool

    gen = torch.Generator().manual_seed(0)
    for shape in [(4, 16, 28, 28), (3, 2, 11, 9), (2, 1, 2, 3)]:
        h = torch.randn(shape, generator=gen).round(decimals=1)  # rounded: many ties inside 2 x 2 windows
        h[0, 0, 0, 0] = float("nan")
        expected = F.max_pool2d(F.relu(h), 2)
        with torch.no_grad(), monkeypatch.context() as patch:
            patch.setattr(lenet.F, "max_pool2d", lambda *a, **k: pytest.fail("scoring called max_pool2d"))
            fast = relu_pool(h)
        assert torch.equal(fast.nan_to_num(7.0), expected.nan_to_num(7.0)) and fast[0, 0, 0, 0].isnan()
    torch.manual_seed(0)
    net, x = DigitNet(), torch.rand(8, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        scored = net(x)
    assert torch.equal(scored, net(x.requires_grad_(True)).detach())


def test_a_cut_short_classifier_cache_is_trained_again_with_one_warning(tmp_path, caplog):
    """A classifier cache file cut short (a kill, a full disk) was a safetensors traceback on every eval."""
    first = lenet.digit_classifier(DIGITS, cache_dir=tmp_path, recipe={"steps": 5})
    cached = next((tmp_path / "classifiers").glob("lenet-digits-*.safetensors"))
    cached.write_bytes(cached.read_bytes()[:1500])
    with caplog.at_level("WARNING"):
        again = lenet.digit_classifier(DIGITS, cache_dir=tmp_path, recipe={"steps": 5})
    assert f"cache file {cached} cannot be read" in caplog.text and "building it again" in caplog.text
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    assert torch.equal(again.logits(x), first.logits(x))  # the same recipe trains the same classifier


@pytest.mark.parametrize("content", [[torch.zeros(1)], torch.zeros(3), {1: torch.zeros(1)}, {"fc.weight": 3}],
                         ids=["list", "tensor", "int-keys", "not-a-tensor"])
def test_inception_weights_that_are_not_a_state_dict_are_one_line(tmp_path, content):
    """Weights-only but not a state dict (a list, a tensor, int keys, plain values) was an AttributeError traceback."""
    torch.save(content, tmp_path / "w.pth")
    with pytest.raises(ConfigError, match="not a state dict of named tensors"):
        inception.load_fid_inception(tmp_path / "w.pth")
