"""The metric registry describes every metric; result names carry the protocol; input is validated."""
import pytest

from ganscape.cli import main
from ganscape.config import load_config
from ganscape.data.meta import data_label
from ganscape.metrics import (DEFAULT_METRICS, METRICS, build_metric, direction, format_n, metric_family,
                              parse_metrics, resolve_metrics)
from ganscape.registry import ConfigError


def test_registry_holds_the_documented_metrics():
    assert set(METRICS.names()) >= {"fid", "kid", "is", "modified_is", "pr", "dc", "modes", "stacked_modes"}


def test_every_metric_describes_its_outputs_direction_needs_and_citation():
    expected = {"fid": "lower", "kid": "lower", "is": "higher", "mis": "higher", "precision": "higher",
                "recall": "higher", "density": "higher", "coverage": "higher", "modes": "higher",
                "hq_share": "higher", "reverse_kl": "lower", "stacked_modes": "higher", "stacked_kl": "lower"}
    seen = {}
    for entry in METRICS:
        assert entry.meta["needs"] in ("features", "probs", "toy", "stacked"), entry.name
        assert entry.citation, entry.name
        assert entry.meta["outputs"], entry.name
        for output, way in entry.meta["outputs"].items():
            assert way in ("higher", "lower"), (entry.name, output)
            seen[output] = way
    assert seen == expected


def test_direction_is_read_from_protocol_names():
    assert direction("fid5k_lenet-digits") == "lower" and direction("is5k_lenet-mnist") == "higher"
    assert direction("mis2k_lenet-mnist") == "higher" and direction("coverage5k_inception_k3") == "higher"
    assert direction("stacked_modes26k_lenet-mnist") == "higher" and direction("stacked_kl26k_lenet-mnist") == "lower"
    assert direction("reverse_kl2500_toy") == "lower" and direction("hq_share2500_toy") == "higher"
    assert metric_family("modes2500_toy") == "modes" and metric_family("kidnap") is None
    with pytest.raises(ConfigError, match="known outputs: .*coverage"):
        direction("sharpness5k_raw")


def test_data_label_names_each_option_that_changes_the_images():
    assert data_label({"name": "mnist", "split": "test", "root": "/data/mnist", "limit": 500}) == "-mnist-test"
    assert data_label({"name": "mnist", "split": "train"}) == data_label({"name": "mnist"}) == "-mnist"
    assert data_label({"name": "digits", "invert": True, "rotate": 90, "size": 28}) == "-digits-invert-rotate90"
    assert data_label({"name": "lsun", "category": "church_outdoor"}) != data_label({"name": "lsun"})
    assert data_label({"name": "image_folder", "path": "/x/faces.zip"}) == "-image-folder-faces"
    assert data_label({"name": "grid25", "std": 0.1}) == "-grid25-std0-1"
    assert data_label({"name": "ring8", "radius": 2.0}) == data_label({"name": "ring8", "radius": 2}) \
        == "-ring8-radius2"


def test_names_carry_n_extractor_and_non_default_options():
    fid = build_metric("fid")
    assert fid.key("fid", 5000, "lenet-mnist") == "fid5k_lenet-mnist"
    assert fid.key("fid", 10000, "lenet-mnist") != fid.key("fid", 5000, "lenet-mnist")
    assert fid.key("fid", 5000, "inception") == "fid5k_inception"
    assert fid.key("fid", 5000, "lenet-digits") != "fid5k_lenet-mnist"
    assert build_metric({"name": "kid", "subsets": 50}).key("kid", 5000, "inception") == "kid5k_inception_subsets50"
    assert build_metric({"name": "kid", "subsets": 100}).key("kid", 5000, "inception") == "kid5k_inception"
    assert build_metric({"name": "pr", "k": 5}).key("precision", 5000, "raw") == "precision5k_raw_k5"
    modes = build_metric("modes")
    assert modes.n == 2500 and modes.key("modes", 2500, "toy") == "modes2500_toy"
    assert format_n(2500) == "2500" and format_n(50000) == "50k" and format_n(1234) == "1234"


def test_a_whole_number_option_names_one_protocol_however_it_is_written():
    """``threshold: 2`` and ``threshold: 2.0`` are one protocol: they gave ``..._threshold2`` and ``..._threshold2.0``,
    which a report took for two metrics (data labels already wrote both alike)."""
    names = {build_metric({"name": "modes", "threshold": t}).key("modes", 2500, "toy") for t in (2, 2.0)}
    assert names == {"modes2500_toy_threshold2"}
    assert build_metric({"name": "modes", "threshold": 2.5}).key("modes", 2500, "toy") == "modes2500_toy_threshold2.5"


@pytest.mark.parametrize("meta, message", [
    ({"needs": "features", "outputs": {"fid": "lower"}}, "output 'fid' is already an output of metric 'fid'"),
    ({"needs": "features", "outputs": {"density": "lower"}}, "output 'density' is already an output of metric 'dc'"),
    ({"needs": "features"}, "outputs must map each output name to 'higher' or 'lower', got None"),
    ({"needs": "pixels", "outputs": {"mine": "lower"}}, "needs='pixels'; valid: features, probs, toy, stacked"),
    ({"needs": "toy", "outputs": {"mine2": "lower"}}, "output 'mine2': 'lower'; an output is a lower-case name"),
    ({"needs": "toy", "outputs": {"mine": "down"}}, "output 'mine': 'down'"),
])
def test_a_metric_that_would_change_what_registered_names_mean_is_refused(meta, message):
    """A second metric with a ``fid`` output wrote ``fid...`` records beside the real FID's, and one with a lower-is-
    better ``density`` reversed the built-in density's ranking; a metric without ``outputs`` broke ``ganscape
    metrics`` and every study report."""
    before = METRICS.names()
    with pytest.raises(ValueError, match=f"metric 'mine': {message}"):
        METRICS.register("mine", "a user's metric", **meta)(lambda: None)
    assert METRICS.names() == before and direction("density5k_lenet-digits") == "higher"


def test_each_data_kind_has_one_default_metric_set():
    assert resolve_metrics(["default"], {"shape": [2], "info": {"centers": [[0, 0]]}}) == ["modes"]
    assert resolve_metrics(["default", "is"], {"shape": [1, 16, 16]}) == DEFAULT_METRICS["gray"] + ["is"]
    assert resolve_metrics(["default"], {"shape": [3, 32, 32], "info": {}}) == DEFAULT_METRICS["color"]
    assert resolve_metrics(["fid", "fid"], {"shape": [2]}) == ["fid"]


def test_bad_metric_names_and_options_are_config_errors():
    with pytest.raises(ConfigError, match="registered: .*fid"):
        parse_metrics("fid,fdi")
    with pytest.raises(ConfigError, match="no option 'subset'"):
        build_metric({"name": "kid", "subset": 3})
    with pytest.raises(ConfigError, match="non-empty list"):
        parse_metrics(" , ")
    assert parse_metrics("fid, kid,is") == ["fid", "kid", "is"]


def test_eval_config_section_is_validated():
    cfg = load_config("ring8", ["eval.every=100", "eval.metrics=[modes, fid]"])
    assert cfg["eval"] == {"every": 100, "metrics": ["modes", "fid"], "n": 5000, "reference_n": None, "extractor": "auto",
                           "classifier": None, "inception_weights": None, "inception_sha256": "6726825d"}
    assert load_config("ring8", ["eval.every=100"])["eval"]["metrics"] == ["default"]
    with pytest.raises(ConfigError, match=r"eval.metrics\[0\]"):
        load_config("ring8", ["eval.metrics=[fdi]"])
    with pytest.raises(ConfigError, match="eval.every"):
        load_config("ring8", ["eval.every=-1"])
    with pytest.raises(ConfigError, match="non-empty list"):
        load_config("ring8", ["eval.metrics=[]"])
    with pytest.raises(ConfigError, match="eval.reference_n: expected an integer >= 2 or null"):
        load_config("ring8", ["eval.reference_n=1"])
    with pytest.raises(ConfigError, match="eval.extractor: unknown extractor 'vgg'; valid: auto, lenet"):
        load_config("ring8", ["eval.extractor=vgg"])
    with pytest.raises(ConfigError, match="eval.classifier.name: unknown dataset 'mnst'"):
        load_config("ring8", ["eval.classifier={name: mnst}"])
    with pytest.raises(ConfigError, match="eval.inception_sha256: expected 8 to 64 lowercase hex digits"):
        load_config("ring8", ["eval.inception_sha256=xyz"])


def test_metrics_command_prints_the_table(capsys):
    assert main(["metrics"]) == 0
    out = capsys.readouterr().out
    assert "reverse_kl (lower is better)" in out and "coverage (higher is better)" in out
    assert "Heusel et al. 2017" in out and "toy      modes" in out
