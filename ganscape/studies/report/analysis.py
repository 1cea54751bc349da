"""The landscape papers' analysis of one group of runs (Lucic et al. 2018, "Are GANs Created Equal?"; Kurach et al.
2019, "A Large-Scale Study on Regularization and Normalization in GANs"):

Only finished runs (task ``done``; ``Run.finished``) count: a failed, running or pending task's last scores are
from an earlier step than the others', and pooling them would mix budgets. The runs table lists them with their step.

* a *configuration* is the runs whose configs differ only in ``seed``; per metric it has the mean over its
  finished, scored seeds, the sample standard deviation (n - 1; None for one seed or a non-finite value) and n;
* the *expected best of k*: the best score among k runs drawn at random without replacement from a level's n runs,
  for k = 1..n. The mean is exact (order statistics); the band is the 5-95 % range of the best over seeded random
  draws of k runs, i.e. how much the outcome of a budget of k runs varies;
* a factor's *levels*: per value of a factor, its configurations ranked, with the best, median and worst mean.

A run is one unit of budget: one configuration trained with one seed.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from ganscape.studies.report.runs import Group, Run, factor_keys, metric_direction, metric_names, order_key

RESAMPLES = 500
BAND = (0.05, 0.95)
NOT_FACTORS = ("seed", "sample")  # ``sample`` numbers the random draws of a grid point; the draws are the factors


@dataclass
class Stat:
    """A metric over a configuration's seeds: mean, sample std (n - 1; None when undefined) and count."""

    mean: float
    std: float | None
    n: int


@dataclass
class Configuration:
    """The runs of one config that differ only in ``seed`` (by task id), with their metrics pooled."""

    label: str
    runs: list[Run]
    stats: dict[str, Stat] = field(default_factory=dict)

    @property
    def id(self) -> int:
        return self.runs[0].id

    @property
    def seeds(self) -> list[str]:
        return [str(run.task["factors"].get("seed", "")) for run in self.runs]

    @property
    def deltas(self) -> list[str]:
        """The config deltas from the study's base, without the seed."""
        return [d for d in self.runs[0].deltas if d.split("=")[0] != "seed"]

    def factor(self, key: str) -> str:
        return str(self.runs[0].task["factors"].get(key, ""))

    def mean(self, metric: str) -> float | None:
        stat = self.stats.get(metric)
        return None if stat is None else stat.mean


def seed_stat(values: list[float]) -> Stat | None:
    """Mean, sample std (ddof 1; None for one value or when a value is infinite) and n of the non-NaN ``values``;
    None when there is none."""
    v = np.asarray([x for x in values if not math.isnan(x)], dtype=np.float64)
    if v.size == 0:
        return None
    std = float(v.std(ddof=1)) if v.size > 1 and np.isfinite(v).all() else None
    return Stat(float(v.mean()), std, int(v.size))


def identity(run: Run) -> str:
    """What makes a configuration: the run's resolved config without its seed."""
    return json.dumps({k: v for k, v in run.task["config"].items() if k != "seed"}, sort_keys=True, default=str)


def configurations(runs: list[Run], order: list[str]) -> list[Configuration]:
    """Runs pooled over seeds -> configurations best first by the means of their finished runs (``order_key``),
    ties by task id. Every run is a member (a failed seed shows as one without a score)."""
    pooled: dict[str, list[Run]] = {}
    for run in sorted(runs, key=lambda r: r.id):
        pooled.setdefault(identity(run), []).append(run)
    configs = []
    for members in pooled.values():
        factors = {k: v for k, v in members[0].task["factors"].items() if k not in NOT_FACTORS}
        config = Configuration("/".join(map(str, factors.values())) or "base", members)
        finished = [run for run in members if run.finished]
        for metric in dict.fromkeys([*order, *metric_names(runs)]):  # a seed that broke before scoring has none
            stat = seed_stat([v for run in finished if (v := run.outcome(metric)) is not None])
            if stat is not None:
                config.stats[metric] = stat
        configs.append(config)
    return sorted(configs, key=lambda c: (order_key(c.mean, order), c.id))


def order_weights(n: int, k: int) -> np.ndarray:
    """(n,): the chance that the i-th smallest of n values is the largest of a random k-subset, C(i-1, k-1) / C(n, k)
    for i = 1..n (0 for i < k; sums to 1), computed in logs so that large n neither overflows nor takes long."""
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n}, got {k}")
    p = np.arange(k, n, dtype=np.float64)  # C(p, k-1) / C(p-1, k-1) = p / (p-k+1)
    log_c = np.concatenate([[0.0], np.cumsum(np.log(p / (p - k + 1)))])  # log C(i-1, k-1), i = k..n
    log_total = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
    weights = np.zeros(n)
    weights[k - 1:] = np.exp(log_c - log_total)
    return weights


def best_of_k(scores: list[float] | np.ndarray, k: int, direction: str | None) -> float:
    """E[best of k values drawn without replacement from the n ``scores``], exactly: with v_(1) <= ... <= v_(n)
    (signed so that higher is better), E[max] = sum_i v_(i) C(i-1, k-1) / C(n, k). ``direction`` is 'higher' or
    'lower' (None: lower). Infinite scores are allowed (a zero weight never multiplies them)."""
    sign = 1.0 if direction == "higher" else -1.0
    v = np.sort(sign * np.asarray(scores, dtype=np.float64))
    weights = order_weights(len(v), k)
    used = weights > 0
    return sign * float(np.dot(weights[used], v[used]))


def expected_best(scores: list[float] | np.ndarray, k_max: int, direction: str | None, resamples: int = RESAMPLES,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The best score at a budget of k = 1..k_max runs drawn without replacement from ``scores`` (n,), k_max <= n.
    Returns (mean, low, high), each (k_max,): the exact expectation (``best_of_k``) and the 5 and 95 % quantiles of
    the best over ``resamples`` random draws (seeded; the first k of one random permutation per draw). The quantiles
    take observed values (no interpolation), so infinite scores are fine."""
    sign = 1.0 if direction == "higher" else -1.0
    v = sign * np.asarray(scores, dtype=np.float64)
    mean = np.array([best_of_k(scores, k, direction) for k in range(1, k_max + 1)])
    draws = np.random.default_rng(seed).permuted(np.tile(v, (resamples, 1)), axis=1)[:, :k_max]
    best = sign * np.maximum.accumulate(draws, axis=1)  # (resamples, k_max): best of the first k of each draw
    low = np.quantile(best, BAND[0], axis=0, method="lower")
    high = np.quantile(best, BAND[1], axis=0, method="higher")
    return mean, low, high


def budget_factor(group: Group, requested: str | None = None) -> str | None:
    """The factor the budget plot compares: ``requested`` if it varies in the group, else ``loss.name`` if it does,
    else the first grid axis that does; None (all runs as one level) when none does."""
    varying = varying_factors(group)
    return next((k for k in [requested, "loss.name", *group.grid] if k in varying), None)


def level_scores(runs: list[Run], factor: str | None, metric: str) -> dict[str, list[float]]:
    """Per level of ``factor`` (one level ``all runs`` for None), the ``outcome`` of ``metric`` of its finished runs
    (a diverged run's is the metric's worst value)."""
    out: dict[str, list[float]] = {}
    for run in (r for r in runs if r.finished):
        level = str(run.task["factors"].get(factor, "")) if factor else "all runs"
        if (value := run.outcome(metric)) is not None:
            out.setdefault(level, []).append(value)
    return out


def budget_curves(group: Group, factor: str | None) -> dict[str, dict[str, tuple[np.ndarray, ...]]]:
    """metric (each of the group's ranking) -> level -> (mean, low, high) of ``expected_best`` for k = 1..n."""
    return {metric: {level: expected_best(scores, len(scores), metric_direction(metric))
                     for level, scores in level_scores(group.runs, factor, metric).items()}
            for metric in group.order}


@dataclass
class Level:
    """One value of a factor: its scored configurations best first and the group metric's mean over seeds of each."""

    factor: str
    label: str
    configs: list[Configuration]
    values: list[float]

    @property
    def best(self) -> float:
        return self.values[0]

    @property
    def worst(self) -> float:
        return self.values[-1]

    @property
    def median(self) -> float:
        return float(np.median(self.values))


def factor_levels(configs: list[Configuration], factor: str, metric: str) -> list[Level]:
    """Configurations ranked best first -> the levels of ``factor`` that have a scored configuration, the level
    with the best configuration first. Best and worst follow the ranking (its first metric is ``metric``)."""
    levels: dict[str, list[Configuration]] = {}
    for config in configs:
        if config.mean(metric) is not None:
            levels.setdefault(config.factor(factor), []).append(config)
    return [Level(factor, label, members, [c.mean(metric) for c in members]) for label, members in levels.items()]


def varying_factors(group: Group) -> list[str]:
    """The factors that take more than one value in the group (grid axes, random-search keys), seed and sample aside."""
    return [k for k in factor_keys(group.runs) if k not in NOT_FACTORS]
