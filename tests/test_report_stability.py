"""How far a study's ranking can be trusted: each configuration's rank under one seed at a time, and the seeds'
agreement (mean Spearman correlation over pairs of seeds), checked against direct computations on hand-made tables."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import spearmanr

from ganscape.studies.report.analysis import Configuration
from ganscape.studies.report.html import agreement_html
from ganscape.studies.report.runs import Run
from ganscape.studies.report.stability import ranks_per_seed, seed_agreement

KL = "reverse_kl2500_toy"
MODES = "modes2500_toy"
# configuration -> reverse KL under seeds 0..3 (lower is better)
TABLE = {"a": [0.1, 0.2, 0.1, 0.3], "b": [0.2, 0.1, 0.3, 0.2], "c": [0.3, 0.4, 0.2, 0.1],
         "d": [0.4, 0.3, 0.5, 0.4], "e": [0.5, 0.5, 0.4, 0.6]}


def configs_of(table: dict[str, list], metric: str = KL) -> list[Configuration]:
    """One configuration per row; a None value is a run without a score."""
    out = []
    for label, values in table.items():
        runs = [Run({"id": 10 * len(out) + seed, "factors": {"seed": seed}, "status": "done"},
                    final={} if value is None else (value if isinstance(value, dict) else {metric: value}))
                for seed, value in enumerate(values)]
        out.append(Configuration(label, runs))
    return out


def test_seed_agreement_is_the_mean_spearman_correlation_over_every_pair_of_seeds():
    agreement = seed_agreement(configs_of(TABLE), [KL])
    direct = [spearmanr([row[s] for row in TABLE.values()], [row[t] for row in TABLE.values()])[0]
              for s, t in itertools.combinations(range(4), 2)]
    assert 0 < agreement.rho < 1 and agreement.rho == pytest.approx(np.mean(direct), abs=1e-12)
    assert agreement.pairs == 6 and agreement.seeds_per_config == 4
    assert agreement.of_means == pytest.approx(4 * agreement.rho / (1 + 3 * agreement.rho))


def test_seed_agreement_gives_tied_scores_their_mean_rank():
    tied = {"a": [0.1, 0.3], "b": [0.2, 0.3], "c": [0.2, 0.1], "d": [0.4, 0.2]}
    direct = spearmanr([0.1, 0.2, 0.2, 0.4], [0.3, 0.3, 0.1, 0.2])[0]
    assert seed_agreement(configs_of(tied), [KL]).rho == pytest.approx(direct, abs=1e-12)


def test_seeds_that_always_agree_give_one():
    same = {label: [i, i, i] for i, label in enumerate("abcd")}
    agreement = seed_agreement(configs_of(same), [KL])
    assert agreement.rho == pytest.approx(1.0) and agreement.pairs == 3 and agreement.of_means == pytest.approx(1.0)


def test_no_agreement_without_two_seeds_sharing_three_told_apart_configurations():
    sparse = {"a": [0.1, 0.2], "b": [0.2, None], "c": [0.3, 0.1], "d": [0.4, None]}  # seed 1 scores two
    flat = {"a": [0.1, 0.5], "b": [0.2, 0.5], "c": [0.3, 0.5]}  # seed 1 ties every configuration
    assert seed_agreement(configs_of(sparse), [KL]) is None and seed_agreement(configs_of(flat), [KL]) is None
    assert seed_agreement(configs_of(TABLE), []) is None
    assert seed_agreement(configs_of({"a": [0.1], "b": [0.2], "c": [0.3]}), [KL]) is None  # one seed


def test_a_half_finished_study_counts_seeds_of_its_scored_configurations_only():
    # 3 configurations scored under both seeds (agreeing), 4 not yet run: the median is over the scored ones, so
    # Spearman-Brown neither divides by zero nor understates n
    table = {**{label: [i, i] for i, label in enumerate("abc")}, **{label: [None, None] for label in "defg"}}
    agreement = seed_agreement(configs_of(table), [KL])
    assert agreement.seeds_per_config == 2 and agreement.of_means == pytest.approx(1.0)
    assert "seeds at 1.00." in agreement_html(agreement)


def test_negative_agreement_has_no_spearman_brown_estimate():
    reversed_order = {label: [i, -i] for i, label in enumerate("abcd")}
    agreement = seed_agreement(configs_of(reversed_order), [KL])
    assert agreement.rho == pytest.approx(-1.0) and agreement.of_means is None
    assert "Spearman &rho; = -1.00" in agreement_html(agreement) and "steadier" not in agreement_html(agreement)


def test_ranks_per_seed_rank_each_seed_alone_ties_sharing_the_better_rank():
    table = {"a": [0.2, 0.3], "b": [0.2, None], "c": [0.5, 0.1]}
    assert ranks_per_seed(configs_of(table), [KL]) == [{"0": 1, "1": 2}, {"0": 1}, {"0": 3, "1": 1}]


def test_a_configuration_drawn_twice_with_one_seed_ranks_once_by_its_better_run():
    configs = configs_of({"a": [0.1, 0.5], "b": [0.2], "c": [0.3]})
    configs[0].runs[1].task["factors"]["seed"] = 0  # a random search drew configuration a twice with seed 0
    assert ranks_per_seed(configs, [KL]) == [{"0": 1}, {"0": 2}, {"0": 3}]


def test_ranks_per_seed_follow_the_toy_protocols_lexicographic_order():
    # under seed 0, "a" captures more modes than "b" despite a worse reverse KL, so it ranks above it
    table = {"a": [{MODES: 8, KL: 0.5}], "b": [{MODES: 7, KL: 0.1}], "c": [{MODES: 8, KL: 0.2}]}
    assert ranks_per_seed(configs_of(table), [MODES, KL]) == [{"0": 2}, {"0": 3}, {"0": 1}]
