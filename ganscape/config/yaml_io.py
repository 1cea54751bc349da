"""The one YAML reader and writer of ganscape: safe loading with YAML 1.2 core-schema scalars.

PyYAML follows YAML 1.1, where ``1e-4`` is a string (a float needs a dot), ``on``/``no`` are booleans and ``010`` is
octal. Here plain scalars resolve by the YAML 1.2 core schema only: null (``~``, ``null``, empty), ``true``/``false``,
ints (``12``, ``010`` = 10, ``0o17``, ``0x1F``), floats (``1e-4``, ``.5``, ``.inf``, ``.nan``); everything else
(``on``, ``1_000``, dates) is a string. Only plain data is built: no Python object tags. A key twice in one mapping is
an error. The writer quotes every string that a YAML 1.1 or 1.2 reader would take for something else."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ganscape.registry import ConfigError

MAX_VALUES = 1_000_000  # values in one document, aliases written out: far above any config or study
MAX_INT_DIGITS = 1000  # Python's int() refuses over 4,300; every ganscape integer has fewer than 20
INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                   r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
CORE_SCHEMA = (("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
               ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
               ("int", INT.pattern, list("-+0123456789")), ("float", FLOAT.pattern, list("-+0123456789.")),
               ("merge", r"^(?:<<)$", ["<"]))


class Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with only the YAML 1.2 core-schema implicit resolvers, and unique mapping keys (YAML 1.2 requires
    them; PyYAML keeps the last of two, so ``steps: 5`` then ``steps: 7`` silently trained 7 steps)."""

    yaml_implicit_resolvers: dict = {}

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, (str, int, float, bool)) or key is None:
                    if key in seen:
                        raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}",
                                                                key_node.start_mark)
                    seen.add(key)
        return super().construct_mapping(node, deep)


class SafeDumper(yaml.SafeDumper):
    """SafeDumper that also knows the 1.2 resolvers, so strings such as ``'1e-4'`` get quoted."""


for _tag, _pattern, _first in CORE_SCHEMA:
    Yaml12Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), _first)
    if _tag in ("int", "float"):
        SafeDumper.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), _first)


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    """Decimal with leading zeros is decimal in YAML 1.2 (octal needs ``0o``)."""
    text = loader.construct_scalar(node)
    if INT.match(text):
        if len(text) > MAX_INT_DIGITS:  # Python refuses to convert such a string (a ValueError traceback)
            raise yaml.constructor.ConstructorError(None, None, f"an integer of {len(text)} digits",
                                                    node.start_mark)
        return int(text, 8) if text.startswith("0o") else int(text, 0 if text.startswith("0x") else 10)
    return yaml.SafeLoader.construct_yaml_int(loader, node)  # an explicit !!int in another form


Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def parse_yaml(text: str, where: str = "YAML") -> Any:
    """Parse YAML text; malformed or unsafe YAML raises ConfigError naming ``where`` and the line, and so does a
    document whose aliases (``*name``) expand it past MAX_VALUES values (a "billion laughs" file: a kilobyte that
    every reader walking it as a tree expands into gigabytes)."""
    try:
        data = yaml.load(text, Loader=Yaml12Loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML{at}: {problem}") from None
    size = expanded_size(data, {})
    if size > MAX_VALUES:
        raise ConfigError(f"{where}: its aliases (*name) expand it to {size:,} values; at most {MAX_VALUES:,}")
    return data


def expanded_size(value: Any, seen: dict[int, int]) -> int:
    """How many values ``value`` holds when every alias is written out (a shared container counts each time it is
    used); linear in the document, however far its aliases expand."""
    if not isinstance(value, (dict, list)):
        return 1
    if id(value) not in seen:
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        seen[id(value)] = 1 + sum(expanded_size(item, seen) for item in items)
    return seen[id(value)]


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file (see ``parse_yaml``); a missing, unreadable or binary file is a ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (cannot be decoded as UTF-8)") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror or err})") from None
    return parse_yaml(text, str(path))


def dump_yaml(data: Any, flow: bool | None = None, sort_keys: bool = False) -> str:
    """YAML that ``parse_yaml`` reads back equal: block style with flow style for leaf collections (``flow`` None),
    or all-flow / all-block (``flow`` True / False)."""
    return yaml.dump(data, Dumper=SafeDumper, sort_keys=sort_keys, default_flow_style=flow, allow_unicode=True)
