"""How far a group's ranking of configurations can be trusted, from the spread between its seeds.

* *Ranks per seed*: each configuration's rank under one seed at a time, among the configurations scored with that
  seed (its run with that seed, in the group's ``order``; 1 = best, ties share the better rank).
* *Seed agreement*: the Spearman rank correlation between the orders under two seeds, averaged over every pair of
  seeds. A mean over n seeds is steadier than one seed; the Spearman-Brown formula n r / (1 + (n - 1) r) roughly
  estimates how well the order of n-seed means agrees with that of n other seeds. One overall rho is dominated by
  the well-separated part of a table; the ranks per seed show where the order is noise.

Resampling each configuration's seeds with replacement (a bootstrap) is left out on purpose: on landscape-toy (2,000
steps) with seeds 3-5 it put a configuration first in 99 % of draws that seeds 0-2 rank third (docs/results.md).
"""
from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from ganscape.studies.report.analysis import Configuration
from ganscape.studies.report.runs import Run, order_key, scored

MIN_SHARED = 3  # configurations two seeds must share for a rank correlation


@dataclass
class SeedAgreement:
    """The mean Spearman correlation ``rho`` over ``pairs`` pairs of seeds, and ``seeds_per_config``, the median
    number of scored seeds of the configurations that have one."""

    rho: float
    pairs: int
    seeds_per_config: int

    @property
    def of_means(self) -> float | None:
        """Spearman-Brown, a rough estimate (it treats seeds as independent, equally noisy repeats): the agreement
        between the orders of two independent ``seeds_per_config``-seed means; None when the seeds do not agree
        at all (rho <= 0)."""
        n = self.seeds_per_config
        return n * self.rho / (1 + (n - 1) * self.rho) if self.rho > 0 and n >= 1 else None


def run_key(run: Run, order: list[str]) -> tuple | None:
    """``order_key`` of one run; None when there is no ranking or the run is not finished and ``scored`` in its first
    metric."""
    return order_key(run.outcome, order) if run.finished and scored(run, order[0] if order else None) else None


def seed_keys(configs: list[Configuration], order: list[str]) -> dict[str, dict[int, tuple]]:
    """seed -> configuration index -> the sort key of its scored run with that seed (of several with one seed, as
    a random search may draw one configuration twice, the best)."""
    out: dict[str, dict[int, tuple]] = {}
    for index, config in enumerate(configs):
        for seed, run in zip(config.seeds, config.runs):
            key = run_key(run, order)
            if key is not None:
                keys = out.setdefault(seed, {})
                keys[index] = min(key, keys.get(index, key))
    return out


def seed_agreement(configs: list[Configuration], order: list[str]) -> SeedAgreement | None:
    """Mean Spearman correlation of the configurations' orders under two seeds, over the pairs of seeds that at least
    ``MIN_SHARED`` scored configurations share and that both tell apart (ties share their mean rank); None without
    such a pair."""
    by_seed = seed_keys(configs, order)
    rhos = []
    for a, b in itertools.combinations(sorted(by_seed), 2):
        shared = sorted(by_seed[a].keys() & by_seed[b].keys())
        ranks = [dense_ranks([by_seed[s][i] for i in shared]) for s in (a, b)]
        if len(shared) >= MIN_SHARED and all(len(set(r)) > 1 for r in ranks):
            rhos.append(float(spearmanr(*ranks)[0]))
    if not rhos:
        return None
    scored_seeds = [sum(index in keys for keys in by_seed.values()) for index in range(len(configs))]
    return SeedAgreement(float(np.mean(rhos)), len(rhos), int(np.median([n for n in scored_seeds if n])))


def dense_ranks(keys: list[tuple]) -> list[int]:
    """Each key's position among the distinct keys, best (smallest) first; equal keys share one."""
    position = {key: i for i, key in enumerate(sorted(set(keys)))}
    return [position[key] for key in keys]


def ranks_per_seed(configs: list[Configuration], order: list[str]) -> list[dict[str, int]]:
    """Per configuration (in ``configs`` order): seed -> its rank under that seed alone, among the configurations
    with a scored run of that seed (1 = best; equal keys share the better rank, where the runs table breaks ties by
    task id). Unscored runs have none."""
    out: list[dict[str, int]] = [{} for _ in configs]
    for seed, keyed in seed_keys(configs, order).items():
        keys = sorted(keyed.values())
        for index, key in keyed.items():
            out[index][seed] = 1 + bisect.bisect_left(keys, key)
    return out
