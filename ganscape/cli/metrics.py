"""``ganscape metrics``: every registered metric, its outputs with their direction, what it
needs, its options and its citation; and the default metric set of each kind of data."""
from __future__ import annotations

import inspect


def register(sub) -> None:
    p = sub.add_parser("metrics", help="list the metrics: outputs, direction, needs, citation, default sets")
    p.set_defaults(func=run)


def rows() -> list[tuple[str, str, str, str, str]]:
    from ganscape.metrics import METRICS

    out = []
    for entry in METRICS:
        outputs = ", ".join(f"{name} ({'higher' if d == 'higher' else 'lower'} is better)"
                            for name, d in entry.meta["outputs"].items())
        options = ", ".join(f"{k}={p.default!r}" for k, p in entry.options().items()
                            if p.default is not inspect.Parameter.empty) or "-"
        out.append((entry.name, outputs, entry.meta["needs"], options, entry.citation))
    return out


def run(args) -> int:
    from ganscape.metrics import DEFAULT_METRICS

    table = rows()
    head = ("metric", "outputs", "needs", "options", "citation")
    widths = [max(len(r[i]) for r in [head, *table]) for i in range(4)]
    for row in [head, *table]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4])
    print("\ndefault metric set (`default` in --metrics, eval.metrics and study eval sections):")
    for kind, names in DEFAULT_METRICS.items():
        print(f"  {kind:8s} {', '.join(names)}")
    print("\nresult names carry the protocol: {output}{n}_{extractor}[_{option}{value}], e.g. fid5k_lenet-digits")
    return 0
