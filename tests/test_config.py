"""Config resolution and the promised errors: key, bad value and valid choices, before training."""
from __future__ import annotations

import pytest

from ganscape.config import SCHEMAS, apply_overrides, dump_yaml, load_config, parse_yaml, preset_names
from ganscape.registry import ConfigError
from ganscape.training import train


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


def test_options_given_before_a_component_swap_on_one_command_line_are_kept():
    """``optim.d.lr=1e-3 optim.d.name=rmsprop`` trained RMSProp at its default 5e-5: the swap dropped the lr given
    just before it (the mapping ``optim.d={lr: ..., name: ...}`` kept it), so the run depended on argument order."""
    assert load_config("ring8", ["optim.d.lr=1e-3", "optim.d.name=rmsprop"])["optim"]["d"] == \
        load_config("ring8", ["optim.d={lr: 1.0e-3, name: rmsprop}"])["optim"]["d"] == {"name": "rmsprop", "lr": 1e-3}
    assert load_config("ring8", ["penalty.gamma=1", "penalty.name=r1"])["penalty"] == {"name": "r1", "gamma": 1}
    assert load_config("ring8", ["optim.d.name=rmsprop"])["optim"]["d"] == {"name": "rmsprop"}  # the base's lr goes


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
    # a bool or float equal to an integer choice passed (True == 1 trained grey images from a colour folder)
    (["data.name=image_folder", "data.path=/x", "data.channels=true"],
     ["data.channels: expected one of 1, 3, got True"]),
    (["generator.name=sndcgan", "generator.kernel=3.0"], ["generator.kernel: expected one of 3, 4, got 3.0"]),
    (["optim.g.lr=-1e-4"], ["optim.g.lr: must be a finite number > 0.0, got -0.0001"]),  # was ">= 0.0 (and > 0)"
    # beyond 64 bits: tracebacks from torch ("Overflow when unpacking long long") or numpy, one after config.yaml
    (["prior.dim=9223372036854775808"], ["prior.dim: must be at most 2**62 in size, got 9223372036854775808"]),
    (["data.seed=99999999999999999999"], ["data.seed: must be at most 2**62 in size"]),
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
    for schema in SCHEMAS.values():
        json.dumps(schema.defaults)
        assert load_config({"kind": schema.kind}) == schema.defaults


def test_yaml_numbers_follow_yaml_1_2_everywhere(tmp_path):
    # YAML 1.1 (PyYAML's default) reads 1e-4 as the string "1e-4" and `on` as True
    assert parse_yaml("a: 1e-4\nb: on\nc: 010\nd: 0o17\ne: 1_000\nf: .inf\ng: 2.5E+3\nh: yes") == \
        {"a": 1e-4, "b": "on", "c": 10, "d": 15, "e": "1_000", "f": float("inf"), "g": 2500.0, "h": "yes"}
    path = tmp_path / "run.yaml"
    path.write_text("base: ring8\noptim:\n  g: {lr: 1e-4}\n  d: {lr: 5e-4, betas: [0.0, 0.9]}\n")
    cfg = load_config(str(path), ["optim.d.lr=2E-4"])
    assert cfg["optim"]["g"]["lr"] == 1e-4 and isinstance(cfg["optim"]["g"]["lr"], float)
    assert cfg["optim"]["d"]["lr"] == 2e-4
    # strings that YAML 1.1 or 1.2 would read as something else are quoted when written
    text = dump_yaml({"x": "1e-4", "y": "on", "z": "010", "w": "null"})
    assert parse_yaml(text) == {"x": "1e-4", "y": "on", "z": "010", "w": "null"}
    assert error_of("ring8", ["data.name=on"]).startswith("data.name: unknown dataset 'on'")


def test_a_run_file_may_start_from_a_preset_or_another_file(tmp_path):
    (tmp_path / "parent.yaml").write_text("base: ring8\ntrain: {steps: 77}\nloss: {name: hinge}\n")
    (tmp_path / "child.yaml").write_text("description: ring8 with hinge and another lr\nbase: parent.yaml\n"
                                         "optim: {g: {lr: 0.003}}\n")
    cfg = load_config(str(tmp_path / "child.yaml"))
    ring8 = load_config("ring8")
    assert cfg["train"]["steps"] == 77 and cfg["loss"] == {"name": "hinge"} and cfg["optim"]["g"]["lr"] == 0.003
    assert cfg["generator"] == ring8["generator"] and cfg["data"] == ring8["data"]
    (tmp_path / "loop.yaml").write_text("base: loop2.yaml\n")
    (tmp_path / "loop2.yaml").write_text("base: loop.yaml\n")
    assert "cycle of bases" in error_of(str(tmp_path / "loop.yaml"))
    assert "unknown config 'nope'" in error_of({"base": "nope"})


def test_translation_presets_are_ordinary_presets_and_old_configs_convert():
    cfg = load_config("cyclegan-digits-rotate")
    assert cfg["kind"] == "translation" and cfg["data_b"] == {"name": "digits", "size": 16, "invert": False, "rotate": 90}
    assert cfg["loss"] == {"name": "cyclegan", "lambda_cycle": 10.0, "lambda_identity": 0.0, "pool_size": 50}
    old_format = {"data_a": {"name": "digits", "size": 16}, "data_b": {"name": "digits", "size": 16, "invert": True},
                  "lambda_cycle": 5.0, "optim": {"lr": 1e-3, "betas": [0.5, 0.999]}}
    cfg = load_config(old_format)
    assert cfg["kind"] == "translation" and cfg["data"] == {"name": "digits", "size": 16}
    assert cfg["loss"]["lambda_cycle"] == 5.0 and cfg["optim"]["g"]["lr"] == cfg["optim"]["d"]["lr"] == 1e-3
    assert "generator.name: unknown translator 'dcgan'" in error_of("cyclegan-digits", ["generator.name=dcgan"])
    assert "kind: unknown run kind 'video'" in error_of("ring8", ["kind=video"])


def test_combinations_that_cannot_work_are_refused_with_the_reason():
    message = error_of("dcgan-digits", ["discriminator.name=cdcgan"])  # projection D, unconditional G
    assert message.startswith("discriminator.conditioning: 'projection'") and "unconditional" in message
    load_config("dcgan-digits", ["discriminator.name=cdcgan", "discriminator.conditioning=acgan"])


def test_yaml_whose_aliases_explode_or_with_an_endless_integer_is_one_line(tmp_path):
    """A kilobyte of nested aliases in a study spec took 4.5 GB and a minute before 'out of memory'; an integer of
    5,000 digits was a ValueError traceback from Python's int()."""
    from ganscape.config.yaml_io import parse_yaml
    from ganscape.studies.spec import read_study

    chain = "".join(f"    {c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("name: bomb\nbase: ring8\ngrid:\n  data:\n    one:\n      x:\n"
                    "        a: &a [x, x, x, x, x, x, x, x, x, x]\n" + chain.replace("    ", "        "))
    with pytest.raises(ConfigError, match=r"its aliases \(\*name\) expand it to 1,234,567,9\d\d values"):
        read_study(bomb)
    with pytest.raises(ConfigError, match="not valid YAML .*an integer of 5000 digits"):
        parse_yaml("seed: " + "9" * 5000, "override")
    assert parse_yaml("a: &x {b: 1}\nc: *x") == {"a": {"b": 1}, "c": {"b": 1}}  # ordinary aliases stay
