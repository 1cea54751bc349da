"""The one YAML reader and writer of ganscape: safe loading with YAML 1.2 core-schema scalars.

PyYAML implements YAML 1.1, where ``1e-4`` is a string (a float needs a dot: ``1.0e-4``), ``on``
and ``no`` are booleans and ``010`` is octal. Configs are written by people who expect YAML 1.2
(and JSON) rules, so the loader here resolves plain scalars by the 1.2 core schema only:

- null: ``~``, ``null``, ``Null``, ``NULL`` or nothing; bool: ``true``/``false`` (any case style)
- int: ``[-+]?[0-9]+`` (decimal, leading zeros allowed), ``0o17``, ``0x1F``
- float: ``[-+]?(.5|1|1.|1.5)([eE][-+]?[0-9]+)?``, ``.inf``, ``-.inf``, ``.nan``
- everything else is a string (``on``, ``yes``, ``1_000``, ``2020-01-01``).

Only plain YAML data is ever built (mappings, lists, scalars): no Python object tags. The writer
quotes every string that a YAML 1.1 *or* 1.2 reader would take for something else.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from ganscape.registry import ConfigError

NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                   r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
MERGE = re.compile(r"^(?:<<)$")


class Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with only the YAML 1.2 core-schema implicit resolvers."""

    yaml_implicit_resolvers: dict = {}


for _tag, _pattern, _first in (
        ("tag:yaml.org,2002:null", NULL, ["~", "n", "N", ""]),
        ("tag:yaml.org,2002:bool", BOOL, list("tTfF")),
        ("tag:yaml.org,2002:int", INT, list("-+0123456789")),
        ("tag:yaml.org,2002:float", FLOAT, list("-+0123456789.")),
        ("tag:yaml.org,2002:merge", MERGE, ["<"])):
    Yaml12Loader.add_implicit_resolver(_tag, _pattern, _first)


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    if INT.match(text):
        return int(text)
    return yaml.SafeLoader.construct_yaml_int(loader, node)  # an explicit !!int in another form


def _construct_float(loader: yaml.SafeLoader, node: yaml.Node) -> float:
    text = loader.construct_scalar(node).lower()
    if text.endswith(".inf"):
        return -math.inf if text.startswith("-") else math.inf
    if text == ".nan":
        return math.nan
    return float(text)


def _construct_bool(loader: yaml.SafeLoader, node: yaml.Node) -> bool:
    return loader.construct_scalar(node).lower() == "true"


Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
Yaml12Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
Yaml12Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


class SafeDumper(yaml.SafeDumper):
    """SafeDumper that also knows the 1.2 resolvers, so strings such as ``'1e-4'`` get quoted."""


SafeDumper.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT, list("-+0123456789."))
SafeDumper.add_implicit_resolver("tag:yaml.org,2002:int", INT, list("-+0123456789"))


def parse_yaml(text: str, where: str = "YAML") -> Any:
    """Parse YAML text; malformed or unsafe YAML raises ConfigError naming ``where`` and the line."""
    try:
        return yaml.load(text, Loader=Yaml12Loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML{at}: {problem}") from None


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file (see ``parse_yaml``); a missing, unreadable or binary file is a ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a YAML file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (cannot be decoded as UTF-8)") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror})") from None
    return parse_yaml(text, str(path))


def dump_yaml(data: Any, flow: bool | None = None, sort_keys: bool = False) -> str:
    """YAML that ``parse_yaml`` reads back equal: block style with flow style for leaf
    collections (``flow`` None), or all-flow / all-block (``flow`` True / False)."""
    return yaml.dump(data, Dumper=SafeDumper, sort_keys=sort_keys, default_flow_style=flow, allow_unicode=True)
