"""Study reports: ranking, escaping, CSV, and the HTML page rendered in headless Chromium.

The study here is planned for real but its results are written straight into the store
(no training), so the expected ranking is known exactly.
"""
from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from ganscape.registry import ConfigError
from ganscape.results import Record
from ganscape.studies import Store, read_study, write_plan
from ganscape.studies.report import render_html, write_report
from ganscape.utils.images import save_grid

EVIL = "<b>&evil</b>"


def rec(task_id: int, step: int, metric: str, value: float, std: float | None = None) -> Record:
    return Record(f"runs/task-{task_id:04d}", step, f"ckpt-{step:08d}.pt", metric, value, std, 2500, "toy", 0.0)
# task id -> reverse KL at steps 20 and 40 (lower is better); task 3 fails
SCORES = {0: (1.5, 0.9), 1: (2.0, 0.2), 2: (1.0, math.inf)}


@pytest.fixture
def study_dir(tmp_path):
    study = {"name": "report-test", "description": "a <study> & its report", "base": "ring8",
             "overrides": ["train.steps=40"],
             "grid": {"dataset": {"plain": {}, EVIL: {"data": {"name": "ring8", "std": 0.05}}},
                      "loss.name": ["nonsaturating", "hinge"]},
             "report": {"metrics": ["reverse_kl"]}}
    out = tmp_path / "study"
    write_plan(read_study(study), out)
    gen = torch.Generator().manual_seed(0)
    with Store(out) as store:
        for task_id, (first, last) in SCORES.items():
            store.claim([task_id])
            store.add_results(task_id, [rec(task_id, 20, "reverse_kl2500_toy", first), rec(task_id, 20, "modes2500_toy", 4)])
            store.add_results(task_id, [rec(task_id, 40, "reverse_kl2500_toy", last),
                                        rec(task_id, 40, "modes2500_toy", 8 - task_id)])
            store.finish(task_id, 1.0 + task_id, 0.5)
            save_grid(torch.rand(4, 3, 8, 8, generator=gen) * 2 - 1,
                      out / "runs" / f"task-{task_id:04d}" / "samples" / "step-00000040.png")
        store.claim([3])
        store.fail(3, "Traceback: <script>alert('x')</script>")
    return out


def test_html_ranks_runs_escapes_text_and_inlines_images(study_dir):
    page = render_html(study_dir)
    table = page.split('id="runs-0"')[1].split("</table>")[0]
    rows = table.split("<tbody>")[1].split("</tr>")[:-1]
    # ranked by the final reverse KL: task 1 (0.2), task 0 (0.9), task 2 (inf), then the failed task 3
    assert [int(r.split('<td class="num">')[2].split("<")[0]) for r in rows] == [1, 0, 2, 3]
    assert "reverse_kl2500_toy" in page and "loss.name=hinge" in page and "data.std=0.05" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    failure = page.split('id="failures"')[1]  # the last line shown, the whole traceback behind a click
    assert '<p class="error">Traceback: &lt;script&gt;' in failure and "<details><summary>traceback</summary><pre>" in failure
    assert EVIL not in page and "&lt;b&gt;&amp;evil&lt;/b&gt;" in page
    assert "&lt;study&gt; &amp; its report" in page
    assert page.count('src="data:image/png;base64,') == 6  # distribution, curves, budget, 3 best-run grids
    assert 'src="http' not in page and "<link" not in page  # self-contained


def ranked_tasks(page: str) -> list[int]:
    table = page.split('id="runs-0"')[1].split("</table>")[0]
    return [int(r.split('<td class="num">')[2].split("<")[0]) for r in table.split("<tbody>")[1].split("</tr>")[:-1]]


def test_each_metric_is_ranked_in_its_own_direction(tmp_path):
    """A study over objectives scored by mis, coverage (higher is better) and fid (lower is better)."""
    study = {"name": "directions", "base": "dcgan-digits", "overrides": ["train.steps=10"],
             "grid": {"loss.name": ["nonsaturating", "hinge", "least_squares"]},
             "report": {"metrics": ["mis", "coverage", "fid"]}}
    out = tmp_path / "study"
    write_plan(read_study(study), out)
    scores = {0: (2.0, 0.5, 30.0), 1: (3.0, 0.9, 10.0), 2: (1.0, 0.1, 20.0)}  # mis, coverage, fid
    with Store(out) as store:
        for task_id, (mis, coverage, fid) in scores.items():
            store.claim([task_id])
            store.add_results(task_id, [rec(task_id, 10, "mis2k_lenet-digits", mis, 0.1),
                                        rec(task_id, 10, "coverage2k_lenet-digits", coverage),
                                        rec(task_id, 10, "fid2k_lenet-digits", fid)])
            store.finish(task_id, 1.0, 0.5)
    page = render_html(out)  # report.metrics says mis first: higher is better, so descending
    assert ranked_tasks(page) == [1, 0, 2] and "higher is better" in page and "3 \u00b1 0.1" in page
    assert ranked_tasks(render_html(out, metric="coverage")) == [1, 0, 2]
    fid_page = render_html(out, metric="fid2k_lenet-digits")
    assert ranked_tasks(fid_page) == [1, 2, 0] and "lower is better" in fid_page


def test_csv_has_one_row_per_task_with_final_metrics(study_dir, tmp_path):
    path = write_report(study_dir, tmp_path / "report.csv")
    rows = [r for r in csv.DictReader(path.open()) if r["row"] == "run"]  # then one row per configuration
    assert [int(r["task"]) for r in rows] == [1, 0, 2, 3] and [r["rank"] for r in rows] == ["1", "2", "3", ""]
    assert [r["status"] for r in rows] == ["done", "done", "done", "failed"]
    assert float(rows[0]["reverse_kl2500_toy"]) == 0.2 and rows[0]["final_step"] == "40"
    assert rows[2]["reverse_kl2500_toy"] == "inf" and rows[3]["reverse_kl2500_toy"] == ""
    assert rows[1]["data.name"] == "ring8" and rows[1]["dataset"] == "plain" and rows[0]["loss.name"] == "hinge"
    assert "alert" in rows[3]["error"]


def test_csv_names_an_axis_over_data_name_apart_from_the_data_name_column(tmp_path):
    """A grid over data.name gave the header two data.name columns; a CSV reader kept only one of them."""
    study = {"name": "two-datasets", "base": "ring8", "overrides": ["train.steps=10"],
             "grid": {"data.name": ["ring8", "grid25"], "loss.name": ["hinge", "wgan"]}}
    write_plan(read_study(study), tmp_path / "study")
    header = next(csv.reader(write_report(tmp_path / "study", tmp_path / "r.csv").open()))
    assert len(header) == len(set(header)) and {"data.name", "factor:data.name", "loss.name"} <= set(header)


def test_an_infinite_score_is_said_to_rank_where_the_metric_s_direction_puts_it(study_dir, tmp_path):
    """The note said 'ranked last' for a +inf Inception Score ranked first, and said nothing of an infinite reverse
    KL under the toy ranking (modes, then high-quality share, then reverse KL)."""
    with Store(study_dir) as store:
        store.add_results(0, [rec(0, 40, "is2k_raw", math.inf)])
        store.add_results(1, [rec(1, 40, "is2k_raw", 2.0)])
        for task_id in SCORES:  # with the third toy metric, ranked by the toy protocol: modes first
            store.add_results(task_id, [rec(task_id, 40, "hq_share2500_toy", 0.9)])
    toy = render_html(study_dir)
    assert "Ranked lexicographically by the toy-mixture protocol" in toy
    assert "1 of 4 runs scored reverse_kl2500_toy = inf" in toy and "ranks them last" in toy
    higher = render_html(study_dir, metric="is2k_raw")
    assert ranked_tasks(higher)[0] == 0 and "1 of 4 runs scored is2k_raw = inf" in higher
    assert "is2k_raw ranks them first" in higher


def test_report_is_utf_8_whatever_the_locale(study_dir, tmp_path):
    """Written in the locale's encoding, a study description with a snowman was a traceback under LC_ALL=C."""
    with Store(study_dir) as store:
        store.set_meta("description", "snow \u2603 \u00fc")
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": "ascii"}
    for name in ("r.html", "r.csv"):
        done = subprocess.run([sys.executable, "-m", "ganscape", "study", "report", str(study_dir), "--out",
                               str(tmp_path / name)], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    assert "snow \u2603 \u00fc" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_csv_cells_cannot_carry_spreadsheet_formulas(tmp_path):
    study = {"name": "=HYPERLINK(\"http://x\")", "base": "ring8", "overrides": ["train.steps=10"],
             "grid": {"dataset": {"=cmd|' /C calc'!A0": {}, "+plain": {"data": {"name": "ring8", "std": 0.05}}}}}
    out = tmp_path / "study"
    write_plan(read_study(study), out)
    with Store(out) as store:
        store.claim([0])
        store.add_results(0, [rec(0, 10, "reverse_kl2500_toy", -0.5)])
        store.fail(0, "@SUM(1+1)")
    text = write_report(out, tmp_path / "r.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert rows[0]["dataset"].startswith("'=cmd") and rows[1]["dataset"] == "'+plain"
    assert rows[0]["error"] == "'@SUM(1+1)" and rows[0]["reverse_kl2500_toy"] == "-0.5"  # numbers stay numbers
    assert all(not cell.startswith(("=", "+", "@")) for row in rows for cell in row.values())


def test_labels_that_look_like_tex_are_plain_text_in_the_plots(tmp_path):
    study = {"name": "tex", "base": "ring8", "overrides": ["train.steps=10"],
             "grid": {"dataset": {"$\\frac{1}{$": {}, "$x$": {"data": {"name": "ring8", "std": 0.05}}}}}
    out = tmp_path / "study"
    write_plan(read_study(study), out)
    with Store(out) as store:
        for task_id in (0, 1):
            store.claim([task_id])
            store.add_results(task_id, [rec(task_id, 10, "reverse_kl2500_toy", 0.5 + task_id)])
            store.finish(task_id, 1.0, 0.5)
    page = write_report(out, tmp_path / "r.html").read_text()
    assert "$\\frac{1}{$" in page and page.count("data:image/png;base64,") >= 2


def test_report_opens_in_headless_chromium(study_dir, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium); the CI script installs it")
    page = tmp_path / "report.html"
    write_report(study_dir, page)
    shot = tmp_path / "report.png"
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1600", "--virtual-time-budget=5000"]
    subprocess.run(flags + [f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    dom = subprocess.run(flags + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    # the page's own script marks that every inlined image decoded in the browser
    assert 'data-images="ok"' in dom and 'data-image-count="6"' in dom
    for element in ('id="study-title"', 'id="configs-0"', 'id="runs-0"', 'id="factors-0"', 'class="plot budget"',
                    'class="plot distribution"', 'class="plot curves"', 'class="samples"', 'id="failures"'):
        assert element in dom
    img = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert img.shape == (1600, 1280) and img.std() > 5  # a rendered page, not a blank screen


def test_report_refuses_a_metric_no_run_has_and_the_sample_axis_as_factor(study_dir, tmp_path, capsys):
    """--metric fid on a toy study wrote the toy ranking without a word; --factor sample was accepted and ignored."""
    from ganscape.cli import main

    assert main(["study", "report", str(study_dir), "--out", str(tmp_path / "r.html"), "--metric", "fid"]) == 2
    assert "--metric: no run of this study has 'fid'; its metrics: modes2500_toy" in capsys.readouterr().err
    assert main(["study", "report", str(study_dir), "--out", str(tmp_path / "r.html"), "--factor", "sample"]) == 2
    assert "--factor: 'sample' is not a factor of this study" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_report_refuses_a_factor_that_takes_one_value(tmp_path, capsys):
    """``--factor discriminator.norm`` on an axis of one level wrote the page with exit 0, its budget plot comparing
    the objectives under the heading "per loss"."""
    from ganscape.cli import main

    study = {"name": "one-level", "base": "ring8", "overrides": ["train.steps=40"],
             "grid": {"loss.name": ["nonsaturating", "hinge"], "discriminator.norm": ["spectral"]}}
    out = tmp_path / "study"
    write_plan(read_study(study), out)
    assert main(["study", "report", str(out), "--out", str(tmp_path / "r.html"), "--factor",
                 "discriminator.norm"]) == 2
    assert ("--factor: 'discriminator.norm' takes one value in this study (spectral), so there is nothing to "
            "compare; factors that vary: loss.name") in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_a_metric_no_registered_metric_has_ranks_nothing_and_says_so(tmp_path, caplog):
    """A study scored by a user's own metric, reported by a process that has not registered it: the CSV ranked its
    runs lower-is-better, whatever the metric's direction, without a word."""
    study = {"name": "own-metric", "base": "ring8", "overrides": ["train.steps=10"],
             "grid": {"loss.name": ["nonsaturating", "hinge"]}}
    out = tmp_path / "study"
    write_plan(read_study(study), out)
    with Store(out) as store:
        for task_id, value in ((0, -0.08), (1, -0.06)):
            store.claim([task_id])
            store.add_results(task_id, [rec(task_id, 10, "closeness300_raw", value)])
            store.finish(task_id, 1.0, 0.5)
    with caplog.at_level("WARNING"):
        rows = [r for r in csv.DictReader(write_report(out, tmp_path / "r.csv").open()) if r["row"] == "run"]
    assert [r["rank"] for r in rows] == ["", ""] and [r["closeness300_raw"] for r in rows] == ["-0.08", "-0.06"]
    assert "no registered metric has the output of closeness300_raw, so the report ranks by none of them" in caplog.text
    with pytest.raises(ConfigError, match="--metric: 'closeness300_raw' is the output of no registered metric here"):
        write_report(out, tmp_path / "r2.csv", metric="closeness300_raw")  # not ranked by another metric instead


def test_a_linked_or_non_png_sample_is_not_embedded(study_dir, tmp_path):
    """A study folder from elsewhere linked runs/task-0000/samples/step-*.png to a secret, which the published page
    carried in base64."""
    import base64

    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-API-KEY=hunter2")
    samples = study_dir / "runs" / "task-0000" / "samples"
    (samples / "step-99999999.png").symlink_to(secret)
    (study_dir / "runs" / "task-0001" / "samples" / "step-99999999.png").write_text("not a png, a text file")
    page = render_html(study_dir)
    assert base64.b64encode(b"SECRET").decode()[:6] not in page and "hunter2" not in page
    assert base64.b64encode(b"not a png").decode()[:8] not in page


def test_the_newest_sample_is_found_by_its_step_past_step_99999999(tmp_path):
    """``step-100000000.png`` sorted as text before ``step-99999999.png``: the page showed the older sample."""
    import base64

    from ganscape.studies.report.html import last_sample_png
    from ganscape.studies.report.runs import Run

    samples = tmp_path / "runs" / "task-0000" / "samples"
    samples.mkdir(parents=True)
    for step, colour in ((99_999_999, 0.0), (100_000_000, 1.0)):
        save_grid(torch.full((1, 3, 4, 4), colour * 2 - 1), samples / f"step-{step:08d}.png")
    newest = (samples / "step-100000000.png").read_bytes()
    assert last_sample_png(tmp_path, Run({"id": 0})) == base64.b64encode(newest).decode("ascii")
