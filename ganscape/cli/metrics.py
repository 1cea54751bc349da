"""``ganscape metrics``: every registered metric (outputs, direction, needs, options, citation) and the default sets."""
from __future__ import annotations

import inspect


def register(sub) -> None:
    p = sub.add_parser("metrics", help="list the metrics: outputs, direction, needs, citation, default sets")
    p.set_defaults(func=run)


def run(args) -> int:
    from ganscape.metrics import DEFAULT_METRICS, METRICS

    table = [("metric", "outputs", "needs", "options", "citation")]
    for entry in METRICS:
        outputs = ", ".join(f"{name} ({d} is better)" for name, d in entry.meta["outputs"].items())
        options = ", ".join(f"{k}={p.default!r}" for k, p in entry.options().items()
                            if p.default is not inspect.Parameter.empty) or "-"
        table.append((entry.name, outputs, entry.meta["needs"], options, entry.citation))
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4])
    print("\ndefault metric set (`default` in --metrics, eval.metrics and study eval sections):")
    for kind, names in DEFAULT_METRICS.items():
        print(f"  {kind:8s} {', '.join(names)}")
    print("\nresult names carry the protocol: {output}{n}_{extractor}[_{option}{value}], e.g. fid5k_lenet-digits")
    return 0
