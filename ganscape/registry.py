"""Named registries of interchangeable components.

Every swappable part of ganscape (datasets, architectures, objectives, penalties, priors, schemes, schedules,
metrics, ...) is a factory function registered under a short name, with a one-line description, the paper it follows
(``citation``) and any facts callers need (``meta``: e.g. a metric's outputs and their direction). A config names the
component and gives its keyword arguments::

    loss: {name: hinge}
    discriminator: {name: dcgan, ndf: 64, norm: spectral}

``Registry.build(section, **context)`` checks the keyword arguments against the factory's signature *before* anything is
built, so a typo or a wrong type is reported with the key, the bad value and the valid choices."""
from __future__ import annotations

import functools
import inspect
import logging
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator


class ConfigError(ValueError):
    """A config value is invalid. The message names the key, the value and the choices."""


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Any]
    description: str
    citation: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    shared: Callable[..., Any] | None = None  # options every entry of the registry takes (see Registry)

    def options(self, context_args: tuple[str, ...] = ()) -> dict[str, inspect.Parameter]:
        """Keyword options a config may set: the factory's parameters minus context ones, then the shared ones."""
        own = {k: p for k, p in _keyword_parameters(self.factory).items() if k not in context_args}
        return {**own, **_keyword_parameters(self.shared)}

    def owner(self, option: str) -> Callable[..., Any]:
        """The function that declares ``option`` (the factory, or the registry's shared options)."""
        if option in _keyword_parameters(self.shared):
            return self.shared
        return self.factory


def _keyword_parameters(function: Callable[..., Any] | None) -> dict[str, inspect.Parameter]:
    """The keyword parameters of ``function`` (none for None)."""
    if function is None:
        return {}
    return {k: p for k, p in inspect.signature(function).parameters.items()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


class Registry:
    """A name -> factory table for one kind of component. ``context_args`` are factory parameters the caller supplies
    (e.g. a generator is given ``data_shape`` and ``z_dim`` by the trainer); config sections may not set them.
    ``shared`` declares, as its keyword parameters with types and defaults, options that every entry accepts and that
    the caller applies around the factory (e.g. a discriminator's ``pack``); ``build`` does not pass them on.
    ``check_entry(entry, others)``, if given, refuses (ValueError) a registration the registry cannot take, as a
    second entry of one name is refused."""

    def __init__(self, kind: str, context_args: tuple[str, ...] = (), shared: Callable[..., Any] | None = None,
                 check_entry: Callable[[Entry, list[Entry]], None] | None = None):
        self.kind = kind
        self.context_args = tuple(context_args)
        self.shared = shared
        self.check_entry = check_entry  # raises ValueError for an entry the registry cannot take (e.g. a metric's meta)
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, description: str | None = None, citation: str = "", **meta: Any):
        """Decorator: ``@OBJECTIVES.register("hinge", "Hinge loss", citation="Lim & Ye 2017")``."""
        def wrap(factory: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            entry = Entry(name, factory, description or own_doc(factory).split("\n")[0], citation, dict(meta),
                          self.shared)
            if self.check_entry:
                self.check_entry(entry, list(self._entries.values()))
            self._entries[name] = entry
            return factory
        return wrap

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str, key: str | None = None) -> Entry:
        """Look a component up; unknown names raise ConfigError listing the registered ones."""
        if not isinstance(name, str) or name not in self._entries:
            where = f"{key}: " if key else ""
            raise ConfigError(f"{where}unknown {self.kind} {name!r}; registered: {', '.join(self.names())}")
        return self._entries[name]

    def validate(self, section: dict[str, Any], key: str) -> Entry:
        """Check a ``{name: ..., **kwargs}`` config section without building anything."""
        if not isinstance(section, dict) or "name" not in section:
            raise ConfigError(f"{key}: expected a mapping with a 'name' key, got {section!r}")
        entry = self.get(section["name"], key=f"{key}.name")
        options = entry.options(self.context_args)
        for opt, value in section.items():
            if opt == "name":
                continue
            if opt not in options:
                valid = ", ".join(sorted(options)) or "(none)"
                raise ConfigError(f"{key}.{opt}: {self.kind} {entry.name!r} has no option {opt!r}; "
                                  f"valid options: {valid}")
            check_option(f"{key}.{opt}", value, options[opt], entry.owner(opt))
        missing = [opt for opt, param in options.items() if param.default is inspect.Parameter.empty
                   and opt not in section]
        if missing:
            raise ConfigError(f"{key}.{missing[0]}: {self.kind} {entry.name!r} needs option {missing[0]!r} "
                              f"(required: {', '.join(missing)})")
        return entry

    def effective(self, section: dict[str, Any], option: str) -> Any:
        """The value ``option`` has in a built ``section``: as written, else its default (None if it has none)."""
        if option in section:
            return section[option]
        param = self.get(section["name"]).options(self.context_args).get(option)
        return None if param is None or param.default is inspect.Parameter.empty else param.default

    def shared_options(self, section: dict[str, Any]) -> dict[str, Any]:
        """The shared options of a validated ``section``: as written, else their defaults."""
        return {k: self.effective(section, k) for k in _keyword_parameters(self.shared)}

    def build(self, section: dict[str, Any], key: str, **context: Any) -> Any:
        """Validate ``section`` and call the factory with its options plus ``context``."""
        entry = self.validate(section, key)
        shared = _keyword_parameters(self.shared)
        kwargs = {k: v for k, v in section.items() if k != "name" and k not in shared}
        try:
            return entry.factory(**context, **kwargs)
        except ConfigError as err:
            msg = str(err)
            raise ConfigError(msg if msg.startswith(key) else f"{key}: {msg}") from None


@dataclass(frozen=True)
class Minimum:
    """``typing.Annotated`` metadata: the option must be >= ``low`` (> ``low`` when ``strict``; see ``Positive``,
    ``NonNegative``)."""

    low: float
    strict: bool = False


@dataclass(frozen=True)
class Maximum:
    """``typing.Annotated`` metadata: the option must be <= ``high`` (< ``high`` when ``strict``; see
    ``Fraction``)."""

    high: float
    strict: bool = False


Positive = typing.Annotated[int, Minimum(1)]          # a size, width, count or layer number
NonNegative = typing.Annotated[float, Minimum(0.0)]   # a loss or penalty weight
Count = typing.Annotated[int, Minimum(0)]             # a number of things that may be zero
Fraction = typing.Annotated[float, Minimum(0.0), Maximum(1.0)]  # a share or a momentum, 0 to 1


LARGEST_INT = 2 ** 62  # component options are 64-bit integers where they are used (with room to multiply by 2)


def check_option(key: str, value: Any, param: inspect.Parameter, factory: Callable) -> None:
    """Check ``value`` against the factory's annotation for ``param`` (simple types; ``Minimum`` and ``Maximum``
    bounds)."""
    expected = option_hints(factory).get(param.name)
    bounds = bounds_of(expected)
    expected = getattr(expected, "__origin__", expected) if bounds else expected
    if expected is not None and not _matches(value, expected):
        raise ConfigError(f"{key}: expected {_type_name(expected)}, got {value!r} ({type(value).__name__})")
    values = value if isinstance(value, (list, tuple)) else [value]
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        raise ConfigError(f"{key}: must be a finite number, got {value!r}")
    if any(isinstance(v, int) and not isinstance(v, bool) and abs(v) > LARGEST_INT for v in values):
        # torch, numpy and random generators take 64-bit integers: a larger one was a traceback from deep inside
        raise ConfigError(f"{key}: must be at most 2**62 in size, got {value!r}")
    if not all(within(value, bound) for bound in bounds):
        raise ConfigError(f"{key}: must be {range_text(bounds)}, got {value}")


def option_hints(factory: Callable) -> dict[str, Any]:
    """The annotations of a factory's options, ``Annotated`` bounds kept: a class's are those of its ``__init__``.
    Annotations that do not resolve (a name only imported for type checkers) leave the options unchecked here, with a
    warning, and the factory checks its own arguments."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception as err:
        warn_unchecked(getattr(factory, "__qualname__", repr(factory)), f"{type(err).__name__}: {err}")
        return {}


@functools.lru_cache(maxsize=None)
def warn_unchecked(factory: str, why: str) -> None:
    """One warning per factory whose option annotations do not resolve."""
    logging.getLogger(__name__).warning("warning: the options of %s are not type-checked: its annotations do not "
                                        "resolve (%s)", factory, why)


def own_doc(factory: Callable) -> str:
    """The factory's own docstring, cleaned ('' without one): a class does not inherit its base's here."""
    doc = factory.__dict__.get("__doc__") if inspect.isclass(factory) else factory.__doc__
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def option_text(value: Any) -> str:
    """An option value as names carry it (a data label, a metric protocol): a float that is a whole number as an
    integer, so that ``2`` and ``2.0`` give one name."""
    return str(int(value) if isinstance(value, float) and value.is_integer() else value)


def within(value: float, bound: Minimum | Maximum) -> bool:
    if isinstance(bound, Minimum):
        return value > bound.low if bound.strict else value >= bound.low
    return value < bound.high if bound.strict else value <= bound.high


def range_text(bounds: list[Minimum | Maximum]) -> str:
    """``>= 1``, ``> 0``, ``in [0, 1]``, ``in [0, 1)``."""
    low = next((b for b in bounds if isinstance(b, Minimum)), None)
    high = next((b for b in bounds if isinstance(b, Maximum)), None)
    if low and high:
        return f"in {'(' if low.strict else '['}{low.low:g}, {high.high:g}{')' if high.strict else ']'}"
    if low:
        return f"{'>' if low.strict else '>='} {low.low:g}"
    return f"{'<' if high.strict else '<='} {high.high:g}"


def bounds_of(expected: Any) -> list[Minimum | Maximum]:
    """The ``Minimum``/``Maximum`` metadata of an ``Annotated`` type ([] for any other)."""
    return [m for m in getattr(expected, "__metadata__", ()) if isinstance(m, (Minimum, Maximum))]


def _matches(value: Any, expected: Any) -> bool:
    origin = typing.get_origin(expected)
    if expected is Any:
        return True
    if origin is typing.Annotated:  # e.g. list[Positive] or Positive | None: the bounds hold inside too
        return _matches(value, typing.get_args(expected)[0]) and all(within(value, b) for b in bounds_of(expected))
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return any(_matches(value, arg) for arg in typing.get_args(expected))
    if origin is typing.Literal:  # by type too: True == 1 and 3.0 == 3 would pass a plain ``in``
        return any(type(value) is type(choice) and value == choice for choice in typing.get_args(expected))
    if expected is type(None):
        return value is None
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple):
        args = typing.get_args(expected)
        if not isinstance(value, (list, tuple)):
            return False
        if origin is list and args:  # list[T]: any length
            return all(_matches(v, args[0]) for v in value)
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            return all(_matches(v, args[0]) for v in value) if args else True
        return len(args) == len(value) and all(_matches(v, a) for v, a in zip(value, args))
    if origin is dict:
        return isinstance(value, dict)
    if isinstance(expected, type):
        return isinstance(value, expected)
    return True


def _type_name(expected: Any) -> str:
    """``int``, ``list[float]``, ``one of 'a', 'b'``, ``int >= 1 | None``, ``list[int >= 1]``."""
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if origin is typing.Annotated:
        bounds = bounds_of(expected)
        return f"{_type_name(args[0])} {range_text(bounds)}" if bounds else _type_name(args[0])
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return " | ".join(_type_name(a) for a in args)
    if origin is not None and args:  # list[float], not list
        return f"{origin.__name__}[{', '.join('...' if a is Ellipsis else _type_name(a) for a in args)}]"
    if expected is type(None):
        return "None"
    return getattr(expected, "__name__", None) or str(expected).replace("typing.", "")
