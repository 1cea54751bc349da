"""The study report's analysis: seeds pooled into configurations, the expected best score at a budget of k runs
(exact formula vs enumeration, bootstrap band), the per-factor table and the toy-mixture ranking protocol.

Studies are planned for real and their results written straight into the store (no training), so every expected
number is computed here from the hand-made values.
"""
from __future__ import annotations

import csv
import itertools
import math
import re
import warnings

import numpy as np
import pytest

from ganscape.results import Record
from ganscape.studies import Store, read_study, write_plan
from ganscape.studies.report import render_html, write_report
from ganscape.studies.report.analysis import (Stat, best_of_k, budget_curves, configurations, expected_best,
                                              factor_levels, order_weights, seed_stat)
from ganscape.studies.report.runs import group_runs, toy_order

EVIL = "<i>&cfg</i>"
VALUES = [0.3, 1.2, 0.7, 2.5, 1.2]  # a tie on purpose
# (loss, norm) -> reverse KL per seed 0, 1 (None: that seed's task failed); tasks are numbered in this order
REVERSE_KL = {("nonsaturating", "none"): (0.9, 0.7), ("nonsaturating", "spectral"): (0.3, 0.5),
              ("hinge", "none"): (0.6, 0.3), ("hinge", "spectral"): (0.25, None)}


def rec(task_id: int, step: int, metric: str, value: float) -> Record:
    return Record(f"runs/task-{task_id:04d}", step, f"ckpt-{step:08d}.pt", metric, value, None, 2500, "toy", 0.0)


def plan(tmp_path, grid: dict, seeds: list[int]) -> object:
    study = {"name": "analysis", "base": "ring8", "overrides": ["train.steps=10"], "grid": grid, "seeds": seeds,
             "report": {"metrics": ["reverse_kl"]}}
    out = tmp_path / "study"
    write_plan(read_study(study), out)
    return out


def store_results(out, values: dict[int, dict[str, float]]) -> None:
    with Store(out) as store:
        for task_id, metrics in values.items():
            store.claim([task_id])
            if metrics is None:
                store.fail(task_id, "RuntimeError: diverged")
                continue
            store.add_results(task_id, [rec(task_id, 10, name, v) for name, v in metrics.items()])
            store.finish(task_id, 1.0, 0.5)


@pytest.fixture
def seeded_study(tmp_path):
    """2 objectives x 2 normalisations x 2 seeds; modes is 8 - task id (a second metric to pool)."""
    out = plan(tmp_path, {"dataset": {EVIL: {}}, "loss.name": ["nonsaturating", "hinge"],
                          "discriminator.norm": ["none", "spectral"]}, [0, 1])
    values = {}
    for i, kls in enumerate(REVERSE_KL.values()):
        for j, kl in enumerate(kls):
            task_id = 2 * i + j
            values[task_id] = None if kl is None else {"reverse_kl2500_toy": kl, "modes2500_toy": 8 - task_id}
    store_results(out, values)
    return out


@pytest.mark.parametrize("direction", ["higher", "lower"])
def test_best_of_k_equals_enumeration_of_every_subset(direction):
    best = max if direction == "higher" else min
    for k in range(1, len(VALUES) + 1):
        subsets = list(itertools.combinations(VALUES, k))
        enumerated = sum(best(s) for s in subsets) / len(subsets)
        assert best_of_k(VALUES, k, direction) == pytest.approx(enumerated, rel=1e-12), k
    assert best_of_k(VALUES, 1, direction) == pytest.approx(np.mean(VALUES))
    assert best_of_k(VALUES, len(VALUES), direction) == best(VALUES)


def test_expected_best_is_exact_mean_within_a_seeded_band():
    for direction in ("higher", "lower"):
        mean, low, high = expected_best(VALUES, 5, direction, resamples=500, seed=3)
        assert mean == pytest.approx([best_of_k(VALUES, k, direction) for k in range(1, 6)])
        assert np.all(low <= mean) and np.all(mean <= high)
        # one run: its score is any of the values; all five runs: always the best one
        assert (low[0], high[0]) == (min(VALUES), max(VALUES))
        assert low[-1] == high[-1] == mean[-1] == (max if direction == "higher" else min)(VALUES)
        again = expected_best(VALUES, 5, direction, resamples=500, seed=3)
        assert all(np.array_equal(a, b) for a, b in zip((mean, low, high), again))
    better = expected_best(VALUES, 5, "higher")[0]
    assert np.all(np.diff(better) > 0)  # a bigger budget finds a better run, on average


def test_expected_best_handles_an_infinite_score():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean, low, high = expected_best([0.2, math.inf, 0.5], 3, "lower", resamples=200)
    # k=1 can draw the inf; k=2: subsets {0.2, inf}, {0.2, 0.5}, {inf, 0.5} -> (0.2 + 0.2 + 0.5) / 3
    assert mean[0] == math.inf and mean[1] == pytest.approx(0.3) and mean[2] == 0.2
    assert high[0] == math.inf and low[1] == 0.2 and not np.isnan(np.concatenate([mean, low, high])).any()


def test_seed_stat_is_numpy_mean_and_sample_std():
    stat = seed_stat([0.9, 0.7, 0.2])
    assert stat.mean == pytest.approx(np.mean([0.9, 0.7, 0.2])) and stat.n == 3
    assert stat.std == pytest.approx(np.std([0.9, 0.7, 0.2], ddof=1))
    assert seed_stat([0.4]).std is None and seed_stat([0.4, math.inf]).std is None
    assert seed_stat([math.nan]) is None and seed_stat([0.4, math.nan]).n == 1


def test_configurations_pool_seeds_and_rank_by_their_mean(seeded_study):
    with Store(seeded_study, create=False) as store:
        (group,) = group_runs(store, None)
    configs = configurations(group.runs, group.order)
    expected = {key: [v for v in kls if v is not None] for key, kls in REVERSE_KL.items()}
    means = {key: np.mean(v) for key, v in expected.items()}
    ranked = sorted(means, key=means.get)
    assert [(c.factor("loss.name"), c.factor("discriminator.norm")) for c in configs] == ranked
    for config in configs:
        values = expected[(config.factor("loss.name"), config.factor("discriminator.norm"))]
        stat = config.stats["reverse_kl2500_toy"]
        assert stat.mean == pytest.approx(np.mean(values)) and stat.n == len(values)
        assert stat.std == (pytest.approx(np.std(values, ddof=1)) if len(values) > 1 else None)
        assert config.stats["modes2500_toy"].mean == pytest.approx(np.mean([8 - r.id for r in config.runs
                                                                              if r.task["status"] == "done"]))
        assert not any(d.startswith("seed=") for d in config.deltas)
    assert [len(c.runs) for c in configs] == [2, 2, 2, 2] and configs[0].seeds == ["0", "1"]


def test_runs_not_done_are_left_out_of_the_analysis(tmp_path):
    """A failed or still running task's last scores are from an earlier step: pooled with finished runs they mixed
    budgets (a failed run's step-5 score halved its configuration's mean, n 3)."""
    out = plan(tmp_path, {"loss.name": ["hinge"]}, [0, 1, 2])
    with Store(out) as store:
        for task_id in (0, 1, 2):
            store.claim([task_id])
            store.add_results(task_id, [rec(task_id, 10 if task_id == 0 else 5, "reverse_kl", 0.2 + task_id)])
        store.finish(0, 1.0, 0.5)
        store.fail(1, "RuntimeError: crashed")
    with Store(out, create=False) as store:
        (group,) = group_runs(store, None)
    (config,) = configurations(group.runs, group.order)
    assert [r.id for r in config.runs] == [0, 1, 2] and config.stats["reverse_kl"].n == 1
    assert config.stats["reverse_kl"].mean == pytest.approx(0.2)
    assert list(budget_curves(group, None)["reverse_kl"]["all runs"][0]) == [pytest.approx(0.2)]
    page = render_html(out)
    assert "2 of 3 runs are not done (1 failed, 1 running)" in page
    write_report(out, tmp_path / "r.csv")
    rows = list(csv.DictReader(open(tmp_path / "r.csv", encoding="utf-8")))
    configs = [(r["task"], r["reverse_kl"], r["reverse_kl:n"], r["rank_per_seed"]) for r in rows
               if r["row"] == "configuration"]
    assert configs == [("0;1;2", "0.2", "1", "1;;")]
    assert [r["final_step"] for r in rows if r["row"] == "run"] == ["10", "5", "5"]


def test_budget_curves_per_objective_use_every_scored_run(seeded_study):
    with Store(seeded_study, create=False) as store:
        (group,) = group_runs(store, None)
    curves = budget_curves(group, "loss.name")["reverse_kl2500_toy"]
    hinge = [0.6, 0.3, 0.25]  # the failed seed is no draw
    mean, low, high = curves["hinge"]
    assert len(mean) == 3 and mean[0] == pytest.approx(np.mean(hinge)) and mean[-1] == min(hinge)
    assert mean[1] == pytest.approx(np.mean([min(s) for s in itertools.combinations(hinge, 2)]))
    assert len(curves["nonsaturating"][0]) == 4


def test_budget_curves_take_each_metrics_direction(seeded_study):
    """modes is higher-is-better: the best of all of a level's runs is its largest count (reverse KL's smallest)."""
    with Store(seeded_study, create=False) as store:
        (group,) = group_runs(store, "modes")
    assert group.order == ["modes2500_toy"]
    mean, low, high = budget_curves(group, "loss.name")["modes2500_toy"]["hinge"]
    hinge = [8 - task for task in (4, 5, 6)]  # task 7 failed
    assert mean[0] == pytest.approx(np.mean(hinge)) and mean[-1] == low[-1] == high[-1] == max(hinge)
    assert mean[1] == pytest.approx(np.mean([max(s) for s in itertools.combinations(hinge, 2)]))


def test_a_run_that_diverged_or_scored_nan_counts_as_the_worst_score(tmp_path, monkeypatch):
    """A diverged run's last scores are from a checkpoint before its divergence, and a NaN score was dropped: a
    configuration that failed in two seeds of three was ranked by its third alone (n=1), first, and the budget plot
    drew only that one. Each now counts as the metric's worst value, in its direction."""
    out = plan(tmp_path, {"loss.name": ["nonsaturating", "hinge"]}, [0, 1, 2])
    scores = {0: (0.1, 8), 1: (0.05, 8), 2: (math.nan, math.nan), 3: (0.9, 7), 4: (0.9, 7), 5: (0.9, 7)}
    with Store(out) as store:
        for task_id, (kl, modes) in scores.items():
            store.claim([task_id])
            step = 2 if task_id == 1 else 10  # task 1 stopped at step 3: its last checkpoint is step 2's
            store.add_results(task_id, [rec(task_id, step, "reverse_kl", kl), rec(task_id, step, "modes", modes)])
            store.finish(task_id, 1.0, 0.5, note="diverged: D loss is NaN at step 3" if task_id == 1 else None)
    with Store(out, create=False) as store:
        (group,) = group_runs(store, None)
    assert [r.id for r in group.runs] == [0, 3, 4, 5, 1, 2]
    hinge, nonsaturating = configurations(group.runs, group.order)
    assert hinge.factor("loss.name") == "hinge" and hinge.stats["reverse_kl"].mean == pytest.approx(0.9)
    assert nonsaturating.stats["reverse_kl"] == Stat(math.inf, None, 3)
    assert nonsaturating.stats["modes"] == Stat(-math.inf, None, 3)
    mean, _, _ = budget_curves(group, "loss.name")["reverse_kl"]["nonsaturating"]
    assert len(mean) == 3 and mean[0] == math.inf and mean[-1] == pytest.approx(0.1)
    from ganscape.studies.report import html

    monkeypatch.setattr(html, "BEST_SAMPLES", 6)
    page = render_html(out)
    assert "2 of 6 runs diverged or scored NaN: each counts as the worst value" in page
    shown = [int(t) for t in re.findall(r"#\d+ task (\d+):", page)]  # the best runs' samples (one with NaN was there)
    assert shown == [0, 3, 4, 5]


def test_a_failed_run_is_not_ranked_among_finished_ones(tmp_path):
    """A failed task's step-20 score (0.1) was ranked first, highlighted as best, in the runs table and the CSV, above
    the finished runs' step-40 scores; the configurations table had it right."""
    out = plan(tmp_path, {"loss.name": ["nonsaturating", "hinge", "wgan"]}, [0])
    with Store(out) as store:
        for task_id, value in ((0, 0.5), (1, 0.8)):
            store.claim([task_id])
            store.add_results(task_id, [rec(task_id, 40, "reverse_kl", value)])
            store.finish(task_id, 1.0, 0.5)
        store.claim([2])
        store.add_results(2, [rec(2, 20, "reverse_kl", 0.1)])
        store.fail(2, "RuntimeError: boom")
    page = render_html(out)
    assert ranked_tasks(page) == [0, 1, 2]
    rows = section(page, 'id="runs-0"').split("<tbody>")[1].split("</tr>")[:-1]
    assert [r.split('<td class="num">')[1].split("<")[0] for r in rows] == ["1", "2", "&ndash;"]
    assert rows[0].startswith('<tr class="best">') and not rows[2].startswith('<tr class="best">')
    write_report(out, tmp_path / "r.csv")
    runs = [(r["task"], r["rank"]) for r in csv.DictReader(open(tmp_path / "r.csv", encoding="utf-8"))
            if r["row"] == "run"]
    assert runs == [("0", "1"), ("1", "2"), ("2", "")]


def test_a_configuration_broken_in_every_seed_before_scoring_counts_as_the_worst(tmp_path):
    """Both seeds of hinge diverged before the first checkpoint (no score at all): its configuration had no mean, no
    rank and no row in the factor table, while the budget plot and the page's note counted it as the worst."""
    out = plan(tmp_path, {"loss.name": ["nonsaturating", "hinge"]}, [0, 1])
    with Store(out) as store:
        for task_id, value in ((0, 0.5), (1, 0.7)):
            store.claim([task_id])
            store.add_results(task_id, [rec(task_id, 10, "reverse_kl", value)])
            store.finish(task_id, 1.0, 0.5)
        for task_id in (2, 3):
            store.claim([task_id])
            store.finish(task_id, 1.0, 0.0, note="diverged: loss is nan at step 7")
    with Store(out, create=False) as store:
        (group,) = group_runs(store, None)
    nonsaturating, hinge = configurations(group.runs, group.order)
    assert nonsaturating.stats["reverse_kl"].mean == pytest.approx(0.6)
    assert hinge.factor("loss.name") == "hinge" and hinge.stats["reverse_kl"] == Stat(math.inf, None, 2)
    assert [level.label for level in factor_levels([nonsaturating, hinge], "loss.name", "reverse_kl")] == \
        ["nonsaturating", "hinge"]


def test_a_nan_in_one_metric_makes_the_run_the_worst_in_every_metric(tmp_path):
    """The page says a run that scored NaN counts as the worst value of every metric; a run of 8 modes, 90% HQ and a
    NaN reverse KL was ranked first by modes and quality."""
    out = plan(tmp_path, {"loss.name": ["nonsaturating", "hinge"]}, [0])
    trio = {0: (8, 0.5, 0.2), 1: (8, 0.9, math.nan)}
    store_results(out, {i: dict(zip(["modes2500_toy", "hq_share2500_toy", "reverse_kl2500_toy"], v))
                        for i, v in trio.items()})
    page = render_html(out)
    assert ranked_tasks(page) == [0, 1]
    assert "1 of 2 runs diverged or scored NaN: each counts as the worst value of every" in page
    assert [int(t) for t in re.findall(r"#\d+ task (\d+):", page)] == [0]  # nor among the best runs' samples


def test_toy_runs_equal_in_modes_and_quality_are_ranked_by_reverse_kl(tmp_path):
    out = plan(tmp_path, {"loss.name": ["nonsaturating", "hinge"]}, [0])
    trio = {0: (8, 0.5, 0.30), 1: (8, 0.5, 0.05)}
    store_results(out, {i: dict(zip(["modes2500_toy", "hq_share2500_toy", "reverse_kl2500_toy"], v))
                        for i, v in trio.items()})
    assert ranked_tasks(render_html(out)) == [1, 0]


def section(page: str, marker: str) -> str:
    return page.split(marker)[1].split("</table>")[0]


def test_html_shows_configurations_factors_and_budget(seeded_study):
    page = render_html(seeded_study)
    configs = section(page, 'id="configs-0"')
    rows = configs.split("<tbody>")[1].split("</tr>")[:-1]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rows]
    # rank, loss, norm, n, seeds, rank per seed, reverse KL mean, std, ...: hinge/spectral (one seed: no std) first
    assert [c[:6] for c in cells] == [["1", "hinge", "spectral", "1", "0, 1", "1, &ndash;"],
                                      ["2", "nonsaturating", "spectral", "2", "0, 1", "2, 2"],
                                      ["3", "hinge", "none", "2", "0, 1", "3, 1"],
                                      ["4", "nonsaturating", "none", "2", "0, 1", "4, 3"]]
    assert [c[6] for c in cells] == ["0.25", "0.4", "0.45", "0.8"]
    assert cells[0][7] == "" and cells[1][7] == f"{np.std([0.3, 0.5], ddof=1):.4g}"
    assert cells[0][8] == "2" and cells[1][8] == "5.5"  # modes (8 - task id) of the scored seeds
    # seeds 0 and 1 share 3 scored configurations: KL (0.9, 0.3, 0.6) against (0.7, 0.5, 0.3), Spearman 0.5; with 2
    # seeds a configuration, Spearman-Brown gives 2 * 0.5 / 1.5
    assert "Spearman &rho; = 0.50 on average over 1 pair of seeds" in page and "seeds at 0.67." in page
    factors = section(page, 'id="factors-0"')
    levels = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in factors.split("<tbody>")[1].split("</tr>")[:-1]]
    # factor, level, configurations, best, median, worst of the configuration means; the winning level first
    assert [r[:6] for r in levels] == [["loss", "hinge", "2", "0.25", "0.35", "0.45"],
                                       ["loss", "nonsaturating", "2", "0.4", "0.6", "0.8"],
                                       ["norm", "spectral", "2", "0.25", "0.325", "0.4"],
                                       ["norm", "none", "2", "0.45", "0.625", "0.8"]]
    assert levels[0][6].endswith("loss.name=hinge, discriminator.norm=spectral")  # the best configuration's deltas
    assert 'class="plot budget"' in page and "budget of k runs, per loss" in page
    assert "budget of k runs, per norm" in render_html(seeded_study, factor="discriminator.norm")
    assert EVIL not in page and "&lt;i&gt;&amp;cfg&lt;/i&gt;/hinge/spectral" in factors  # the configuration's label
    assert '<details class="runs">' in page and 'id="runs-0"' in page


def test_csv_has_a_row_per_configuration_with_seed_statistics(seeded_study, tmp_path):
    rows = list(csv.DictReader(write_report(seeded_study, tmp_path / "r.csv").open()))
    runs = [r for r in rows if r["row"] == "run"]
    configs = [r for r in rows if r["row"] == "configuration"]
    assert len(runs) == 8 and len(configs) == 4 and rows[:8] == runs
    assert [r["rank"] for r in configs] == ["1", "2", "3", "4"]
    assert [r["task"] for r in configs] == ["6;7", "2;3", "4;5", "0;1"] and configs[0]["seed"] == "0;1"
    for row in configs:
        values = [v for v in REVERSE_KL[(row["loss.name"], row["discriminator.norm"])] if v is not None]
        assert float(row["reverse_kl2500_toy"]) == pytest.approx(np.mean(values))
        assert row["reverse_kl2500_toy:n"] == str(len(values))
        assert (float(row["reverse_kl2500_toy:std"]) == pytest.approx(np.std(values, ddof=1)) if len(values) > 1
                else row["reverse_kl2500_toy:std"] == "")
    assert configs[0]["dataset"] == EVIL and configs[0]["name"].startswith(EVIL)
    assert [r["rank_per_seed"] for r in configs] == ["1;", "2;2", "3;1", "4;3"] and runs[0]["rank_per_seed"] == ""


def test_csv_configuration_cells_cannot_carry_formulas(tmp_path):
    out = plan(tmp_path, {"dataset": {"=cmd|' /C calc'!A0": {}}, "loss.name": ["nonsaturating", "hinge"]}, [0, 1])
    store_results(out, {i: {"reverse_kl2500_toy": -0.5 + i} for i in range(4)})
    rows = list(csv.DictReader(write_report(out, tmp_path / "r.csv").read_text().splitlines()))
    configs = [r for r in rows if r["row"] == "configuration"]
    assert len(configs) == 2 and configs[0]["name"].startswith("'=cmd") and configs[0]["dataset"].startswith("'=cmd")
    assert configs[0]["reverse_kl2500_toy"] == "0.0" and configs[0]["reverse_kl2500_toy:n"] == "2"  # mean of -0.5, 0.5
    assert all(not cell.startswith(("=", "+", "@")) for row in rows for cell in row.values())


def toy_runs(tmp_path):
    """Task 0: a smeared ring (8 modes, 7 % high-quality samples, spread evenly: low reverse KL); task 1: a sharp one
    (8 modes, 41 % high quality, a little uneven); task 2: sharp but a mode short."""
    out = plan(tmp_path, {"loss.name": ["nonsaturating", "hinge", "least_squares"]}, [0])
    trio = {0: (8, 0.07, 0.01), 1: (8, 0.41, 0.05), 2: (7, 0.90, 0.30)}
    store_results(out, {i: dict(zip(["modes2500_toy", "hq_share2500_toy", "reverse_kl2500_toy"], v))
                        for i, v in trio.items()})
    return out


def ranked_tasks(page: str) -> list[int]:
    rows = section(page, 'id="runs-0"').split("<tbody>")[1].split("</tr>")[:-1]
    return [int(r.split('<td class="num">')[2].split("<")[0]) for r in rows]


def test_toy_group_is_ranked_by_modes_then_quality_then_reverse_kl(tmp_path):
    out = toy_runs(tmp_path)
    page = render_html(out)
    assert ranked_tasks(page) == [1, 0, 2]  # the sharp ring beats the smeared one at equal modes
    ranking = page.split('<p class="ranking">')[1].split("</p>")[0]
    assert "lexicographically" in ranking
    assert ranking.index("modes2500_toy") < ranking.index("hq_share2500_toy") < ranking.index("reverse_kl2500_toy")
    assert "(higher)" in ranking and "(lower)" in ranking
    assert ranked_tasks(render_html(out, metric="reverse_kl")) == [0, 1, 2]  # --metric: one metric
    with Store(out, create=False) as store:
        (group,) = group_runs(store, None)
    assert group.order == ["modes2500_toy", "hq_share2500_toy", "reverse_kl2500_toy"]
    rows = list(csv.DictReader(write_report(out, tmp_path / "r.csv").open()))
    assert [r["task"] for r in rows if r["row"] == "run"] == ["1", "0", "2"]


def test_toy_order_needs_all_three_metrics_of_one_protocol():
    names = ["fid1k_raw", "hq_share2500_toy", "modes1000_toy", "modes2500_toy", "reverse_kl2500_toy"]
    assert toy_order(names) == ["modes2500_toy", "hq_share2500_toy", "reverse_kl2500_toy"]
    assert toy_order(["modes2500_toy", "reverse_kl2500_toy"]) is None
    assert toy_order(["stacked_modes", "hq_share", "reverse_kl"]) is None


def test_order_weights_are_the_binomial_ratios_for_large_studies_too():
    for n, k in [(5, 1), (5, 3), (5, 5), (40, 7)]:
        exact = [math.comb(i - 1, k - 1) / math.comb(n, k) for i in range(1, n + 1)]
        assert order_weights(n, k) == pytest.approx(exact, rel=1e-12, abs=0)
    big = order_weights(3000, 1500)  # C(3000, 1500) overflows a float
    assert np.isfinite(big).all() and big.sum() == pytest.approx(1.0) and big[:1499].max() == 0
