"""The registry checks a config section against the part it names before anything is built, for a user's own parts
as for the built-in ones: option types (a class's from its ``__init__``), bounds inside lists and optional values,
required options; and a part shows its own description, not an inherited one."""
from __future__ import annotations

import pytest

from ganscape.data.base import DATASETS
from ganscape.registry import ConfigError, Positive, Registry


def test_a_class_s_options_are_checked_against_its_init_annotations():
    """A class registered as a part (the built-in objectives are classes) had no option checked: a string scale
    reached the training step as a TypeError, after the run folder was written."""
    parts = Registry("part")

    @parts.register("scaled", "a class with a typed option")
    class Scaled:
        def __init__(self, scale: float = 1.0, steps: Positive = 1):
            self.scale, self.steps = scale, steps

    assert parts.build({"name": "scaled", "scale": 2, "steps": 3}, "part").scale == 2
    with pytest.raises(ConfigError, match=r"^part.scale: expected float, got 'big' \(str\)$"):
        parts.validate({"name": "scaled", "scale": "big"}, "part")
    with pytest.raises(ConfigError, match=r"^part.steps: must be >= 1, got 0$"):
        parts.validate({"name": "scaled", "steps": 0}, "part")


def test_bounds_hold_inside_lists_and_optional_options():
    parts = Registry("part")

    @parts.register("widths", "bounded values inside other types")
    def widths(sizes: list[Positive] = [8], every: Positive | None = None):
        return sizes, every

    parts.validate({"name": "widths", "sizes": [1, 2], "every": None}, "part")
    parts.validate({"name": "widths", "every": 3}, "part")
    for option, value, expected in (("sizes", [4, -3], r"list\[int >= 1\]"), ("every", -5, r"int >= 1 \| None"),
                                    ("every", "abc", r"int >= 1 \| None")):
        with pytest.raises(ConfigError, match=rf"^part.{option}: expected {expected}, got "):
            parts.validate({"name": "widths", option: value}, "part")


def test_a_missing_required_option_is_one_line_naming_it():
    """``data.name=npz`` without ``data.path`` was a TypeError traceback from the factory."""
    with pytest.raises(ConfigError, match=r"^data.path: dataset 'npz' needs option 'path' \(required: path\)$"):
        DATASETS.validate({"name": "npz"}, "data")
    parts = Registry("part", context_args=("given",))

    @parts.register("needs", "two required options and one the caller supplies")
    def needs(given, first: int, second: int, third: int = 0):
        return given

    with pytest.raises(ConfigError, match=r"^part.second: part 'needs' needs option 'second' \(required: second\)"):
        parts.validate({"name": "needs", "first": 1}, "part")
    assert parts.build({"name": "needs", "first": 1, "second": 2}, "part", given="g") == "g"


def test_a_part_shows_its_own_description_not_its_base_class_s():
    parts = Registry("part")

    class Base:
        """Base class; subclasses implement everything."""

    @parts.register("plain")
    class Plain(Base):
        pass

    @parts.register("described")
    class Described(Base):
        """Its own first line.

        More."""

    assert parts.get("plain").description == ""
    assert parts.get("described").description == "Its own first line."
