"""A user's own parts on the command line: ``GANSCAPE_PLUGINS=mylab.parts,mylab.metrics`` names modules that
``ganscape`` and its study workers (local processes and Ray tasks) import before they read any config, so that the
objectives, architectures, metrics or datasets those modules register are there, as the built-in ones are
(docs/architecture.md, "Adding your own part"). The Python API needs none of this: import the module, then train."""
from __future__ import annotations

import importlib
import os
import re
import traceback
from pathlib import Path

from ganscape.registry import ConfigError

ENV = "GANSCAPE_PLUGINS"
MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def plugin_names() -> list[str]:
    """The module names ``GANSCAPE_PLUGINS`` lists (comma-separated; empty when unset)."""
    return [name.strip() for name in os.environ.get(ENV, "").split(",") if name.strip()]


def where(err: BaseException) -> str:
    """``FILE:LINE`` of the innermost frame of ``err``'s traceback outside ganscape and the import machinery: the
    line of the user's module that failed (a registration ganscape refused raises inside ganscape)."""
    package, frames = str(Path(__file__).resolve().parent), traceback.extract_tb(err.__traceback__)
    frames = [f for f in frames if not f.filename.startswith((package, "<"))] or frames
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"


def import_plugins(names: list[str] | None = None) -> list[str]:
    """Import each module of ``names`` (default: ``plugin_names()``) and return the names; a name that is not a
    module name, or a module that fails to import or to register its parts, is one ConfigError naming it."""
    names = plugin_names() if names is None else names
    for name in names:
        if not MODULE_NAME.fullmatch(name):
            raise ConfigError(f"{ENV}: {name!r} is not a module name (e.g. mylab.parts); separate names with ','")
        try:
            importlib.import_module(name)
        except Exception as err:  # not found; or a part it registers is refused, or a module it imports is missing
            if isinstance(err, ModuleNotFoundError) and err.name and f"{name}.".startswith(f"{err.name}."):
                raise ConfigError(f"{ENV}: no module {name!r} ({err}); put its folder on PYTHONPATH or install "
                                  "it") from None
            raise ConfigError(f"{ENV}: importing {name!r} failed at {where(err)}: {type(err).__name__}: "
                              f"{err}") from None
    return names
