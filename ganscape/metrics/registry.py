"""The metric registry and protocol-carrying metric names.

Each metric factory takes typed options and returns a ``Metric``: what inputs it needs
and a function from those inputs to named values. Result keys carry the protocol::

    {value}{n}_{extractor}[_{option}{value} ...][_std]     e.g. fid5k_lenet-mnist, kid5k_inception_std

where ``n`` is the number of generated samples (``5k`` for 5000), ``extractor`` the
feature network and its training data (``lenet-mnist``, ``inception``, ``raw``, ``toy``)
and options that differ from their defaults are appended, so a result computed under
another protocol never shares a name.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np

from ganscape.metrics import fid as fid_mod
from ganscape.metrics import inception_score as is_mod
from ganscape.metrics import kid as kid_mod
from ganscape.metrics import modified_is as mis_mod
from ganscape.metrics import precision_recall as pr_mod
from ganscape.metrics.modes import stacked_mode_metrics, toy_mode_metrics
from ganscape.registry import ConfigError, Registry

METRICS = Registry("metric")
Needs = Literal["features", "probs", "toy", "stacked"]


@dataclass
class Inputs:
    """What metrics are computed from. Features (N, D) float; probs (N, C); toy samples
    (N, 2) with ``centers``/``std``; stacked digit predictions (N, 3)."""

    fake_features: np.ndarray | None = None
    real_features: np.ndarray | None = None
    fake_probs: np.ndarray | None = None
    toy_samples: Any = None
    centers: Any = None
    std: float | None = None
    stacked_digits: Any = None


@dataclass
class Metric:
    """A configured metric: ``compute(inputs) -> {value_name: float}``.

    ``n`` fixes the sample count (the toy protocol uses 2500 whatever ``--n`` says);
    ``options`` are the non-default options, which go into the result names.
    """

    name: str
    needs: Needs
    compute: Callable[[Inputs], dict[str, float]]
    options: dict[str, Any] = field(default_factory=dict)
    n: int | None = None

    def key(self, value: str, n: int, extractor: str) -> str:
        """Protocol name of one value, e.g. ``key("kid_std", 5000, "inception") -> kid5k_inception_std``."""
        base, std = (value[:-4], "_std") if value.endswith("_std") else (value, "")
        opts = "".join(f"_{k}{v}" for k, v in sorted(self.options.items()))
        return f"{base}{format_n(n)}_{extractor}{opts}{std}"


def format_n(n: int) -> str:
    """5000 -> '5k', 50000 -> '50k', 2500 -> '2500'."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def non_default(factory: Callable, values: dict[str, Any]) -> dict[str, Any]:
    params = inspect.signature(factory).parameters
    return {k: v for k, v in values.items() if params[k].default != v}


@METRICS.register("fid", "Frechet distance between Gaussians fitted to features (float64)")
def fid():
    return Metric("fid", "features", lambda i: {"fid": fid_mod.fid_from_features(i.fake_features, i.real_features)})


@METRICS.register("kid", "unbiased MMD^2, cubic polynomial kernel, mean/std over random subsets")
def kid(subsets: int = 100, subset_size: int = 1000, seed: int = 0):
    if subsets < 1 or subset_size < 2:
        raise ConfigError(f"kid: need subsets >= 1 and subset_size >= 2, got {subsets}, {subset_size}")

    def compute(i: Inputs):
        mean, std = kid_mod.kid(i.fake_features, i.real_features, subsets, subset_size, seed)
        return {"kid": mean, "kid_std": std}
    return Metric("kid", "features", compute, 
                  non_default(kid, {"subsets": subsets, "subset_size": subset_size, "seed": seed}))


@METRICS.register("is", "Inception Score exp(E KL(p(y|x) || p(y))), mean/std over splits")
def inception_score(splits: int = 10):
    def compute(i: Inputs):
        mean, std = is_mod.inception_score(i.fake_probs, min(splits, len(i.fake_probs)))
        return {"is": mean, "is_std": std}
    return Metric("is", "probs", compute, non_default(inception_score, {"splits": splits}))


@METRICS.register("modified_is", "DeLiGAN's modified IS (intra-class diversity), mean/std over classes")
def modified_is():
    def compute(i: Inputs):
        mean, std = mis_mod.modified_inception_score(i.fake_probs)
        return {"mis": mean, "mis_std": std}
    return Metric("modified_is", "probs", compute)


@METRICS.register("pr", "improved precision and recall, k-NN manifolds (k=3)")
def pr(k: int = 3):
    def compute(i: Inputs):
        out = pr_mod.prdc(i.real_features, i.fake_features, k_pr=k, k_dc=k)
        return {"precision": out["precision"], "recall": out["recall"]}
    return Metric("pr", "features", compute, non_default(pr, {"k": k}))


@METRICS.register("dc", "density and coverage, k-NN balls around real samples (k=5)")
def dc(k: int = 5):
    def compute(i: Inputs):
        out = pr_mod.prdc(i.real_features, i.fake_features, k_pr=k, k_dc=k)
        return {"density": out["density"], "coverage": out["coverage"]}
    return Metric("dc", "features", compute, non_default(dc, {"k": k}))


@METRICS.register("modes", "toy 2-D mixtures: modes captured, high-quality share, reverse KL (2500 samples)")
def modes(n: int = 2500, threshold: float = 3.0):
    def compute(i: Inputs):
        return toy_mode_metrics(i.toy_samples, i.centers, i.std, threshold)
    return Metric("modes", "toy", compute, non_default(modes, {"threshold": threshold}), n=n)


@METRICS.register("stacked_modes", "Stacked MNIST: modes captured of 1000 and KL(p_gen || uniform)")
def stacked_modes():
    def compute(i: Inputs):
        out = stacked_mode_metrics(i.stacked_digits)
        return {"stacked_modes": out["modes"], "stacked_kl": out["kl"]}
    return Metric("stacked_modes", "stacked", compute)


def build_metric(spec: str | dict[str, Any], key: str = "metrics") -> Metric:
    """``"kid"`` or ``{name: kid, subsets: 50}`` -> Metric (options validated)."""
    section = {"name": spec} if isinstance(spec, str) else spec
    return METRICS.build(section, key)


def parse_metrics(text: str | list) -> list[str | dict[str, Any]]:
    """``"fid,kid,is"`` -> ["fid", "kid", "is"] (lists pass through); names are checked."""
    items = [s.strip() for s in text.split(",") if s.strip()] if isinstance(text, str) else list(text)
    if not items:
        raise ConfigError(f"--metrics: no metric given; registered: {', '.join(METRICS.names())}")
    for item in items:
        build_metric(item)
    return items
