"""The metric registry: every metric describes itself, and its results carry their protocol.

Each registration names the metric's outputs with their direction (``higher`` or ``lower`` is better), what it needs
(``features``, class ``probs``, toy mixture ``centers``, a ``stacked`` digit classifier) and the paper it follows;
``ganscape metrics`` prints the table. A configured metric computes ``{output: (value, std or None)}``; each output
becomes one ``MetricValue`` whose name carries the protocol::

    {output}{n}_{extractor}[_{option}{value} ...]     e.g. fid5k_lenet-digits, kid2k_inception_subsets50

``n`` is the number of generated samples (``5k`` for 5000), ``extractor`` the feature network and its training data
(``lenet-mnist``, ``inception``, ``raw``, ``toy``), and options that differ from their defaults are appended, so results
of different protocols never share a name."""
from __future__ import annotations

import inspect
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np

from ganscape.metrics import cache
from ganscape.metrics import fid as fid_mod
from ganscape.metrics import inception_score as is_mod
from ganscape.metrics import kid as kid_mod
from ganscape.metrics import modified_is as mis_mod
from ganscape.metrics import precision_recall as pr_mod
from ganscape.metrics.modes import stacked_mode_metrics, toy_mode_metrics
from ganscape.registry import ConfigError, Count, Entry, Positive, Registry, option_text

Needs = Literal["features", "probs", "toy", "stacked"]
Direction = Literal["higher", "lower"]
HIGHER, LOWER = "higher", "lower"
Outputs = dict[str, tuple[float, float | None]]
OUTPUT_NAME = re.compile(r"[a-z]+(_[a-z]+)*")  # letters: a protocol name's sample count follows it directly


def check_metric_entry(entry: Entry, others: list[Entry]) -> None:
    """A metric registers what it needs (one of ``Needs``) and its outputs, ``{name: "higher" | "lower"}``, names that
    no other metric's outputs use: two metrics writing ``fid...`` results, or a second ``density`` output that is
    better lower, would change what the built-in names mean. ValueError otherwise (a programming error)."""
    needs, outputs = entry.meta.get("needs"), entry.meta.get("outputs")
    if needs not in typing.get_args(Needs):
        raise ValueError(f"metric {entry.name!r}: needs={needs!r}; valid: {', '.join(typing.get_args(Needs))}")
    if not isinstance(outputs, dict) or not outputs:
        raise ValueError(f"metric {entry.name!r}: outputs must map each output name to {HIGHER!r} or {LOWER!r}, "
                         f"got {outputs!r}")
    for name, way in outputs.items():
        if not isinstance(name, str) or not OUTPUT_NAME.fullmatch(name) or way not in (HIGHER, LOWER):
            raise ValueError(f"metric {entry.name!r}: output {name!r}: {way!r}; an output is a lower-case name of "
                             f"letters and '_' with {HIGHER!r} or {LOWER!r} (is better)")
        owner = next((other.name for other in others if name in other.meta.get("outputs", {})), None)
        if owner:
            raise ValueError(f"metric {entry.name!r}: output {name!r} is already an output of metric {owner!r}; "
                             "give it a name of its own")


METRICS = Registry("metric", check_entry=check_metric_entry)


@dataclass
class Inputs:
    """What metrics are computed from. Features (N, D) float; probs (N, C); toy samples
    (N, 2) with ``centers``/``std``; stacked digit predictions (N, 3); ``device``: where the feature network ran
    (k-NN metrics compute their distances there)."""

    fake_features: np.ndarray | None = None
    real_features: np.ndarray | None = None
    fake_probs: np.ndarray | None = None
    toy_samples: Any = None
    centers: Any = None
    std: float | None = None
    stacked_digits: Any = None
    device: str = "cpu"


@dataclass
class Metric:
    """A configured metric: ``compute(inputs) -> {output: (value, std or None)}``. ``n`` fixes the sample count (the
    toy protocol uses 2500 whatever ``--n`` says); ``options``, the non-default options, go into the result names."""

    name: str
    needs: Needs
    compute: Callable[[Inputs], Outputs]
    options: dict[str, Any] = field(default_factory=dict)
    n: int | None = None

    def key(self, output: str, n: int, extractor: str, reference: str = "") -> str:
        """Protocol name of one output, e.g. ``key("kid", 5000, "inception") -> kid5k_inception``; ``reference`` (see
        ``reference_suffix``) names a reference set other than the run's own data at n samples."""
        opts = "".join(f"_{k}{option_text(v)}" for k, v in sorted(self.options.items()))  # 2 and 2.0: one name
        return f"{output}{format_n(n)}_{extractor}{opts}{reference}"


def reference_suffix(n: int, reference_count: int, label: str = "") -> str:
    """``""`` for the protocol's default reference (the run's own data, as many samples as generated); else
    ``_ref`` with its sample count when it differs from ``n`` and/or the data's ``label`` (``-mnist-test``):
    ``_ref1500``, ``_ref-mnist-test``, ``_ref1500-mnist-test`` (the count first: a label may end in digits, as
    ``-cifar10``). Results against other reference sets never share a name."""
    count = format_n(reference_count) if reference_count != n else ""
    return f"_ref{count}{label}" if label or count else ""


def format_n(n: int) -> str:
    """5000 -> '5k', 50000 -> '50k', 2500 -> '2500'."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def non_default(factory: Callable, values: dict[str, Any]) -> dict[str, Any]:
    params = inspect.signature(factory).parameters
    return {k: v for k, v in values.items() if params[k].default != v}


def prdc_outputs(i: Inputs, k: int, *names: str) -> Outputs:
    """The named outputs of ``precision_recall.prdc`` with k_pr = k_dc = k (``pr`` and ``dc``), on the features'
    device; the real features' k-NN radii are kept with a reference this process keeps (``cache.derived``)."""
    enough_samples(i, k + 1, f"k={k} nearest neighbours")

    def radii():
        return pr_mod.kth_neighbour_radii(pr_mod.as_features(i.real_features, i.device), (k,))
    real_radii = cache.derived(i.real_features, ("knn_radii", k, str(i.device)), radii)
    out = pr_mod.prdc(i.real_features, i.fake_features, k_pr=k, k_dc=k, device=i.device, outputs=names,
                      real_radii=real_radii)
    return {name: (out[name], None) for name in names}


def enough_samples(i: Inputs, least: int, why: str) -> None:
    """ConfigError unless the generated and the reference features each hold at least ``least`` samples."""
    for which, features, flag, hint in (
            ("generated", i.fake_features, "--n (eval.n)", ""),
            ("reference", i.real_features, "--reference-n (eval.reference_n)",  # or a reference dataset that small
             " (as many as asked for, or all the reference data holds)")):
        if len(features) < least:
            raise ConfigError(f"{flag}: {why} need at least {least} {which} samples, got {len(features)}{hint}")


def read_only(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.setflags(write=False)
    return arrays


def fid_value(i: Inputs) -> float:
    """``fid_from_features(fake, real)``, the real mean and covariance kept with a reference this process keeps."""
    enough_samples(i, 2, "a mean and covariance")
    real = cache.derived(i.real_features, "fid_stats", lambda: read_only(*fid_mod.feature_stats(i.real_features)))
    return fid_mod.frechet_distance(*fid_mod.feature_stats(i.fake_features), *real)


@METRICS.register("fid", "Frechet distance between Gaussians fitted to features (float64)",
                  citation="Heusel et al. 2017, \"GANs Trained by a Two Time-Scale Update Rule ...\"",
                  needs="features", outputs={"fid": LOWER})
def fid():
    return Metric("fid", "features", lambda i: {"fid": (fid_value(i), None)})


@METRICS.register("kid", "unbiased MMD^2, cubic polynomial kernel, mean/std over random subsets",
                  citation="Binkowski et al. 2018, \"Demystifying MMD GANs\"", needs="features", outputs={"kid": LOWER})
def kid(subsets: Positive = 100, subset_size: Positive = 1000, seed: Count = 0):
    if subsets < 1 or subset_size < 2:
        raise ConfigError(f"kid: need subsets >= 1 and subset_size >= 2, got {subsets}, {subset_size}")

    def compute(i: Inputs) -> Outputs:
        enough_samples(i, 2, "an unbiased MMD")
        mean, std = kid_mod.kid(i.fake_features, i.real_features, subsets, subset_size, seed)
        nf, nr = len(i.fake_features), len(i.real_features)
        whole = min(subset_size, nf, nr) == nf == nr  # every subset the whole of both sets: no spread
        return {"kid": (mean, None if whole else std)}
    return Metric("kid", "features", compute,
                  non_default(kid, {"subsets": subsets, "subset_size": subset_size, "seed": seed}))


@METRICS.register("is", "Inception Score exp(E KL(p(y|x) || p(y))), mean/std over splits",
                  citation="Salimans et al. 2016, \"Improved Techniques for Training GANs\"", needs="probs",
                  outputs={"is": HIGHER})
def inception_score(splits: Positive = 10):
    return Metric("is", "probs", lambda i: {"is": is_mod.inception_score(i.fake_probs, min(splits, len(i.fake_probs)))},
                  non_default(inception_score, {"splits": splits}))


@METRICS.register("modified_is", "DeLiGAN's modified IS (intra-class diversity), mean/std over classes",
                  citation="Gurumurthy et al. 2017, \"DeLiGAN\"", needs="probs", outputs={"mis": HIGHER})
def modified_is():
    return Metric("modified_is", "probs", lambda i: {"mis": mis_mod.modified_inception_score(i.fake_probs)})


@METRICS.register("pr", "improved precision and recall, k-NN manifolds (k=3)",
                  citation="Kynkaanniemi et al. 2019, \"Improved Precision and Recall Metric ...\"",
                  needs="features", outputs={"precision": HIGHER, "recall": HIGHER})
def pr(k: Positive = 3):
    return Metric("pr", "features", lambda i: prdc_outputs(i, k, "precision", "recall"), non_default(pr, {"k": k}))


@METRICS.register("dc", "density and coverage, k-NN balls around real samples (k=5)",
                  citation="Naeem et al. 2020, \"Reliable Fidelity and Diversity Metrics for Generative Models\"",
                  needs="features", outputs={"density": HIGHER, "coverage": HIGHER})
def dc(k: Positive = 5):
    return Metric("dc", "features", lambda i: prdc_outputs(i, k, "density", "coverage"), non_default(dc, {"k": k}))


@METRICS.register("modes", "toy 2-D mixtures: modes captured, high-quality share, reverse KL (2500 samples)",
                  citation="Srivastava et al. 2017 (VEEGAN); Lin et al. 2018 (PacGAN)", needs="toy",
                  outputs={"modes": HIGHER, "hq_share": HIGHER, "reverse_kl": LOWER})
def modes(n: Positive = 2500, threshold: float = 3.0):
    if not 0 < threshold < math.inf:
        raise ConfigError(f"modes: threshold is in standard deviations, a number > 0; got {threshold}")
    def compute(i: Inputs) -> Outputs:
        return {k: (float(v), None) for k, v in toy_mode_metrics(i.toy_samples, i.centers, i.std, threshold).items()}
    return Metric("modes", "toy", compute, non_default(modes, {"threshold": threshold}), n=n)


@METRICS.register("stacked_modes", "Stacked MNIST: modes captured of 1000 and KL(p_gen || uniform)",
                  citation="Metz et al. 2017; Srivastava et al. 2017 (VEEGAN); Lin et al. 2018 (PacGAN)",
                  needs="stacked", outputs={"stacked_modes": HIGHER, "stacked_kl": LOWER})
def stacked_modes():
    def compute(i: Inputs) -> Outputs:
        out = stacked_mode_metrics(i.stacked_digits)
        return {"stacked_modes": (float(out["modes"]), None), "stacked_kl": (out["kl"], None)}
    return Metric("stacked_modes", "stacked", compute)


def build_metric(spec: str | dict[str, Any], key: str = "metrics") -> Metric:
    """``"kid"`` or ``{name: kid, subsets: 50}`` -> Metric (options validated)."""
    return METRICS.build({"name": spec} if isinstance(spec, str) else spec, key)


def output_directions() -> dict[str, Direction]:
    """Every output name of every registered metric -> its direction."""
    return {out: d for entry in METRICS for out, d in entry.meta["outputs"].items()}


def metric_family(protocol_name: str) -> str | None:
    """The output a protocol name belongs to: ``reverse_kl2500_toy`` -> ``reverse_kl`` (None if unknown)."""
    name = protocol_name.lower()
    for family in sorted(output_directions(), key=len, reverse=True):
        if name == family or (name.startswith(family) and name[len(family)] in "_0123456789"):
            return family
    return None


def direction(protocol_name: str) -> Direction:
    """``higher`` or ``lower`` (is better) for a protocol name; unknown names are a ConfigError."""
    family = metric_family(protocol_name)
    if family is None:
        known = ", ".join(sorted(output_directions()))
        raise ConfigError(f"metric {protocol_name!r} is not an output of a registered metric; known outputs: {known}")
    return output_directions()[family]


def higher_is_better(protocol_name: str) -> bool:
    return direction(protocol_name) == HIGHER
