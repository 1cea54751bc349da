"""Metric names carry the protocol; the registry and the eval config section validate input."""
import pytest

from ganscape.config import load_config
from ganscape.metrics import METRICS, build_metric, format_n, parse_metrics
from ganscape.registry import ConfigError


def test_registry_holds_the_documented_metrics():
    assert set(METRICS.names()) >= {"fid", "kid", "is", "modified_is", "pr", "dc", "modes", "stacked_modes"}


def test_names_carry_n_extractor_and_non_default_options():
    fid = build_metric("fid")
    assert fid.key("fid", 5000, "lenet-mnist") == "fid5k_lenet-mnist"
    assert fid.key("fid", 10000, "lenet-mnist") != fid.key("fid", 5000, "lenet-mnist")
    assert fid.key("fid", 5000, "inception") == "fid5k_inception"
    assert fid.key("fid", 5000, "lenet-digits") != "fid5k_lenet-mnist"
    kid = build_metric("kid")
    assert kid.key("kid_std", 5000, "inception") == "kid5k_inception_std"
    assert build_metric({"name": "kid", "subsets": 50}).key("kid", 5000, "inception") == "kid5k_inception_subsets50"
    assert build_metric({"name": "kid", "subsets": 100}).key("kid", 5000, "inception") == "kid5k_inception"
    assert build_metric({"name": "pr", "k": 5}).key("precision", 5000, "raw") == "precision5k_raw_k5"
    modes = build_metric("modes")
    assert modes.n == 2500 and modes.key("modes", 2500, "toy") == "modes2500_toy"
    assert format_n(2500) == "2500" and format_n(50000) == "50k" and format_n(1234) == "1234"


def test_bad_metric_names_and_options_are_config_errors():
    with pytest.raises(ConfigError, match="registered: .*fid"):
        parse_metrics("fid,fdi")
    with pytest.raises(ConfigError, match="no option 'subset'"):
        build_metric({"name": "kid", "subset": 3})
    with pytest.raises(ConfigError, match="no metric"):
        parse_metrics(" , ")
    assert parse_metrics("fid, kid,is") == ["fid", "kid", "is"]


def test_eval_config_section_is_validated():
    cfg = load_config("ring8", ["eval.every=100", "eval.metrics=[modes, fid]"])
    assert cfg["eval"] == {"every": 100, "metrics": ["modes", "fid"], "n": 5000}
    with pytest.raises(ConfigError, match=r"eval.metrics\[0\]"):
        load_config("ring8", ["eval.metrics=[fdi]"])
    with pytest.raises(ConfigError, match="eval.every"):
        load_config("ring8", ["eval.every=-1"])
    with pytest.raises(ConfigError, match="no metric is listed"):
        load_config("ring8", ["eval.every=10"])
