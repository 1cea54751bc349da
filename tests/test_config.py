"""Config resolution and the promised errors: key, bad value and valid choices, before training."""
from __future__ import annotations

import pytest

from ganscape.config import DEFAULTS, apply_overrides, load_config, preset_names
from ganscape.registry import ConfigError
from ganscape.training.trainer import train


def error_of(source, overrides=()) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(source, list(overrides))
    return str(info.value)


def test_overrides_are_parsed_as_yaml_and_dotted():
    cfg = load_config("ring8", ["train.steps=123", "optim.g.lr=1e-3", "loss.name=hinge", "optim.d.betas=[0.0, 0.9]"])
    assert cfg["train"]["steps"] == 123 and cfg["optim"]["g"]["lr"] == 1e-3
    assert cfg["loss"] == {"name": "hinge"} and cfg["optim"]["d"]["betas"] == [0.0, 0.9]


def test_changing_a_component_name_drops_the_old_options():
    cfg = apply_overrides({"generator": {"name": "dcgan", "ngf": 32}}, ["generator.name=mlp"])
    assert cfg["generator"] == {"name": "mlp"}


def test_every_preset_resolves():
    assert {"ring8", "dcgan-digits", "dcgan-mnist"} <= set(preset_names())
    for name in preset_names():
        assert load_config(name)["train"]["steps"] >= 1


@pytest.mark.parametrize("overrides, expected", [
    (["loss.name=hingee"], ["loss.name", "'hingee'", "hinge", "wgan"]),
    (["generator.name=resnet_foo"], ["generator.name", "resnet_foo", "dcgan", "mlp"]),
    (["data.name=cifar99"], ["data.name", "cifar99", "digits", "mnist"]),
    (["penalty.name=gp"], ["penalty.name", "'gp'", "wgan_gp"]),
    (["prior.name=cauchy"], ["prior.name", "cauchy", "gaussian", "uniform"]),
    (["train.steps=ten"], ["train.steps", "'ten'", "int"]),
    (["train.batch_size=0"], ["train.batch_size", "0"]),
    (["train.stepz=5"], ["train.stepz", "steps"]),
    (["data.std=wide"], ["data.std", "'wide'", "float"]),
    (["discriminator.norm=group"], ["discriminator.norm", "'group'", "spectral", "batch"]),
    (["discriminator.depth=3"], ["discriminator.depth", "valid options", "hidden"]),
    (["device=tpu"], ["device", "tpu", "cuda"]),
    (["train.ema_decay=1.5"], ["train.ema_decay", "1.5"]),
])
def test_bad_values_are_named_with_choices(overrides, expected):
    message = error_of("ring8", overrides)
    for fragment in expected:
        assert fragment in message, (fragment, message)


def test_unknown_preset_lists_presets():
    message = error_of("not-a-preset")
    assert "not-a-preset" in message and "ring8" in message


def test_missing_yaml_file(tmp_path):
    assert "not found" in error_of(str(tmp_path / "missing.yaml"))


def test_yaml_file_with_python_tags_is_refused(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("seed: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(Exception) as info:
        load_config(str(path))
    assert "python/object" in str(info.value)


def test_architecture_that_cannot_make_the_size_fails_before_training(tmp_path):
    cfg = load_config("dcgan-digits", ["data.size=24"])
    with pytest.raises(ConfigError) as info:
        train(cfg, tmp_path / "run", show_progress=False)
    assert "24" in str(info.value) and "generator.name" in str(info.value)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_mlp_on_images_is_refused(tmp_path):
    cfg = load_config("dcgan-digits", ["generator.name=mlp"])
    with pytest.raises(ConfigError, match="vector data"):
        train(cfg, tmp_path / "run", show_progress=False)


def test_missing_data_file_fails_before_training(tmp_path):
    cfg = load_config("dcgan-mnist", [f"data.root={tmp_path}/nowhere"])
    with pytest.raises(ConfigError) as info:
        train(cfg, tmp_path / "run", show_progress=False)
    assert "data.root" in str(info.value) and "not found" in str(info.value)


def test_defaults_are_a_plain_serialisable_dict():
    import json
    json.dumps(DEFAULTS)
