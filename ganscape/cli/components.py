"""``ganscape components [--verbose]``: every registered component of every run kind; ``--verbose`` adds options,
defaults, citations and each architecture's parameter count at its defaults (see ``parameter_count``)."""
from __future__ import annotations

import inspect

from ganscape.config import SCHEMAS
from ganscape.registry import ConfigError

COUNT_SHAPES = ((3, 32, 32), (1, 28, 28), (3, 64, 64), (3, 128, 128), (2,))
COUNT_Z_DIM = 128


def register(sub) -> None:
    p = sub.add_parser("components", help="list registered datasets, architectures, losses, penalties, priors, ...")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="also show options, defaults, citations and architectures' parameter counts")
    p.set_defaults(func=run)


def parameter_count(section: str, entry) -> tuple[tuple[int, ...], int, int] | None:
    """(shape, classes, number of parameters) of an architecture built with its defaults and z_dim 128, or None. Shape:
    ``reference_shape`` of its registry entry when it declares one, else the first of ``COUNT_SHAPES`` it supports;
    unconditional first, architectures that are conditional by default with 10 classes."""
    from ganscape.models import build_discriminator, build_generator, count_parameters

    for shape in filter(None, [entry.meta.get("reference_shape"), *COUNT_SHAPES]):
        for classes in (0, 10):
            try:
                model = (build_generator({"name": entry.name}, shape, COUNT_Z_DIM, classes) if section == "generator"
                         else build_discriminator({"name": entry.name}, shape, classes))
            except (ConfigError, ValueError, TypeError):
                continue
            return tuple(shape), classes, count_parameters(model)
    return None


def print_entry(section: str, registry, entry, verbose: bool, kind: str) -> None:
    print(f"  {entry.name:22s} {entry.description}")
    if not verbose:
        return
    if entry.citation:
        print(f"      cites: {entry.citation}")
    for opt, param in entry.options(registry.context_args).items():
        default = "required" if param.default is inspect.Parameter.empty else repr(param.default)
        print(f"      {opt} = {default}")
    if kind == "gan" and section in ("generator", "discriminator") and (counted := parameter_count(section, entry)):
        shape = "x".join(map(str, counted[0]))
        classes = f", {counted[1]} classes" if counted[1] else ""
        print(f"      parameters: {counted[2]:,} (defaults, data {shape}, z_dim {COUNT_Z_DIM}{classes})")


def run(args) -> int:
    seen: set[int] = set()
    for kind, schema in SCHEMAS.items():
        print(f"== kind: {kind} ({schema.description})")
        for section, registry in schema.registries().items():
            shared = id(registry) in seen
            seen.add(id(registry))
            print(f"{section} ({registry.kind}{'; as above' if shared else ''}):")
            if shared:
                continue
            for entry in registry:
                print_entry(section, registry, entry, args.verbose, kind)
        print()
    print("metrics: see `ganscape metrics`")
    return 0
