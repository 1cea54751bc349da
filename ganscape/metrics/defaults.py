"""The default metric set of each kind of data: what ``default`` means in eval, training and study metric lists."""
from __future__ import annotations

from typing import Any

from ganscape.data.meta import data_kind
from ganscape.registry import ConfigError

DEFAULT_METRICS: dict[str, list[str]] = {
    "toy": ["modes"],            # 2-D mixtures with known centres: the PacGAN/VEEGAN protocol
    "vectors": ["fid", "kid"],   # other vectors: on the raw coordinates
    "gray": ["fid", "kid"],      # 1-channel (digit) images: LeNet features
    "color": ["fid", "kid"],     # colour images: FID Inception features (needs the weights file)
    "stacked": ["stacked_modes"],
}


def describe_defaults() -> str:
    """One line per data kind, for help texts."""
    return "; ".join(f"{kind}: {','.join(names)}" for kind, names in DEFAULT_METRICS.items())


def resolve_metrics(metrics: list[Any], meta: dict[str, Any]) -> list[Any]:
    """Expand ``default`` into the data's default set (duplicates removed, order kept)."""
    kind = meta.get("kind") or data_kind(meta)
    out: list[Any] = []
    for item in metrics:
        for name in (DEFAULT_METRICS[kind] if item == "default" else [item]):
            if name not in out:
                out.append(name)
    return out


def check_metric_list(metrics: Any, key: str) -> None:
    """A list of ``default``, metric names or ``{name: ..., **options}`` sections (checked)."""
    from ganscape.metrics.registry import METRICS, build_metric

    if not isinstance(metrics, list) or not metrics:
        raise ConfigError(f"{key}: expected a non-empty list of metric names (or [default]); "
                          f"registered: default, {', '.join(METRICS.names())}")
    for i, metric in enumerate(metrics):
        if metric != "default":
            build_metric(metric, key=f"{key}[{i}]")


def canonical_metric(spec: Any) -> Any:
    """A checked metric list item in one spelling: ``kid``, ``{name: kid}`` and ``{name: kid, subsets: 100}`` (its
    default) all give ``{name: kid, **every option}``; ``default`` stays as it is."""
    from ganscape.metrics.registry import METRICS

    if spec == "default":
        return spec
    section = {"name": spec} if isinstance(spec, str) else dict(spec)
    options = METRICS.get(section["name"]).options(METRICS.context_args)
    return {"name": section["name"], **{opt: METRICS.effective(section, opt) for opt in options}}


def parse_metrics(text: str | list) -> list[Any]:
    """``"fid,kid,is"`` -> ["fid", "kid", "is"] (lists pass through); names are checked."""
    items = [s.strip() for s in text.split(",") if s.strip()] if isinstance(text, str) else list(text)
    check_metric_list(items, "--metrics")
    return items
