"""Multi-GPU studies and the progress of `study run`: --gpus checked before any work and one GPU per local worker
(CUDA_VISIBLE_DEVICES, round-robin), the ETA and the one plain line per finished task without a terminal, and a
Ray task shown running only once it has started."""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_helpers import ganscape, snapshot
from ganscape.cli import main
from ganscape.registry import ConfigError
from ganscape.studies import Store, read_study, write_plan
from ganscape.studies.backends.local import parse_gpus, worker_env
from ganscape.studies.progress import StudyProgress, eta_seconds, task_line

FAULT_DIR = Path(__file__).parent / "fault"
TINY = ["generator.hidden=4", "discriminator.hidden=4", "generator.layers=1", "discriminator.layers=1",
        "train.steps=1"]
LINE = re.compile(r"\[(\d+)/(\d+) done, (\d+) running, (\d+) pending, (\d+) failed\] task (\d+) done in \d+\.\ds "
                  r"\(elapsed \d+s, ETA (\d+s|\?)\)")


def plan(tmp_path: Path, tasks: int, **extra) -> Path:
    out = tmp_path / "study"
    write_plan(read_study({"name": "gpus", "base": "ring8", "overrides": TINY, "seeds": list(range(tasks)), **extra}),
               out)
    return out


def test_gpu_ids_parse_and_are_checked_against_the_devices():
    assert parse_gpus("0,1,2,3", available=4) == [0, 1, 2, 3]
    assert parse_gpus(" 3, 1", available=4) == [3, 1]
    with pytest.raises(ConfigError, match=r"^--gpus: GPU 7 does not exist: this machine has 4 CUDA devices "
                                          r"\(valid ids: 0-3\)$"):
        parse_gpus("0,7", available=4)
    with pytest.raises(ConfigError, match=r"GPU 1 does not exist: this machine has 1 CUDA device \(valid id: 0\)"):
        parse_gpus("1", available=1)
    for bad in ("a,b", "", "0,,1", "-1", "1.5", "²"):
        with pytest.raises(ConfigError, match=r"^--gpus: .* is not a GPU id; .*\(valid ids: 0-3\)$"):
            parse_gpus(bad, available=4)


def test_worker_i_gets_gpu_i_mod_n_counted_in_the_visible_devices():
    base = {"PATH": "/bin"}
    assert [worker_env(i, [0, 1, 2, 3], base)["CUDA_VISIBLE_DEVICES"] for i in range(6)] == list("012301")
    assert [worker_env(i, [2], base)["CUDA_VISIBLE_DEVICES"] for i in range(3)] == ["2", "2", "2"]
    assert worker_env(0, [1], base)["PATH"] == "/bin" and "CUDA_VISIBLE_DEVICES" not in base
    assert worker_env(5, None, base) == base  # without --gpus every worker sees what the runner sees
    # under CUDA_VISIBLE_DEVICES=4,6 this process's GPU 1 is device 6
    assert worker_env(0, [1], {"CUDA_VISIBLE_DEVICES": "4,6"})["CUDA_VISIBLE_DEVICES"] == "6"


@pytest.mark.parametrize("gpus, fragment", [
    ("7", "--gpus: GPU 7 does not exist: this machine has 0 CUDA devices (valid: none; run without --gpus)"),
    ("a,b", "--gpus: 'a' (in 'a,b') is not a GPU id"),
])
def test_bad_gpus_is_one_line_before_any_work(tmp_path, gpus, fragment):
    study = plan(tmp_path, 2)
    before = snapshot(study)
    done = ganscape("study", "run", str(study), "--all", "--workers", "2", "--gpus", gpus)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and fragment in done.stderr, done.stderr
    assert snapshot(study) == before


def test_gpus_are_refused_with_ray(tmp_path):
    study = plan(tmp_path, 1)
    done = ganscape("study", "run", str(study), "--all", "--backend", "ray", "--gpus", "0")
    assert done.returncode == 2 and "--gpus: for --backend local only" in done.stderr, done.stderr


@pytest.mark.parametrize("args, message", [
    (["--backend", "ray", "--executor", "os:getcwd"], "--executor: for --backend local only; this command runs "
                                                      "--backend ray"),  # Ray trained every task in full
    (["--backend", "ray", "--workers", "4"], "--workers: for --backend local only"),
    (["--backend", "ray", "--threads", "2"], "--threads: for --backend local only"),
    (["--address", "1.2.3.4:6379"], "--address: for --backend ray only; this command runs --backend local"),
    (["--num-cpus", "3"], "--num-cpus: for --backend ray only")])
def test_an_option_of_the_other_backend_is_one_line_before_any_work(tmp_path, args, message):
    """Each was ignored without a word."""
    study = plan(tmp_path, 1)
    before = snapshot(study)
    done = ganscape("study", "run", str(study), "--all", *args)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert snapshot(study) == before


def test_each_worker_starts_with_its_gpu_and_each_task_is_one_line(tmp_path, monkeypatch, capfd):
    import torch

    from ganscape.studies.backends import local

    study = plan(tmp_path, 6)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setenv("PYTHONPATH", f"{FAULT_DIR}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setenv("FAULT_SLEEP_S", "0.3")
    started, popen = [], subprocess.Popen

    def spy(command, env=None, **kwargs):
        started.append(env.get("CUDA_VISIBLE_DEVICES"))
        return popen(command, env=env, **kwargs)
    monkeypatch.setattr(local.subprocess, "Popen", spy)
    assert main(["study", "run", str(study), "--all", "--workers", "3", "--gpus", "1,3",
                 "--executor", "fault_tasks:tiny"]) == 0
    assert started == ["1", "3", "1"]  # 6 pending tasks: 3 workers at once, round-robin over the 2 GPUs
    err = capfd.readouterr().err
    assert "\r" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 6 and all(LINE.fullmatch(line) for line in lines), err
    assert sorted(int(LINE.fullmatch(line)[6]) for line in lines) == list(range(6))
    assert LINE.fullmatch(lines[-1]).groups()[:5] == ("6", "6", "0", "0", "0")


def test_eta_is_the_mean_duration_of_the_work_left_shared_by_the_workers():
    assert eta_seconds([], 5, [], 2) is None  # nothing finished yet: unknown
    assert eta_seconds([4.0], 0, [], 2) == 0.0
    assert eta_seconds([4.0, 6.0], 4, [], 2) == pytest.approx(10.0)  # 4 tasks of 5 s on 2 workers
    # running tasks count for the rest of the mean (none when they already ran longer)
    assert eta_seconds([4.0, 6.0], 3, [1.0, 7.0], 2) == pytest.approx((15 + 4 + 0) / 2)
    assert eta_seconds([5.0], 1, [], 8) == pytest.approx(5.0)  # one task left: one worker works on it


def test_task_line_format():
    counts = {"done": 12, "running": 2, "pending": 40, "failed": 0}
    assert (task_line(counts, 12, "done", 4.13, 62.0, 190.0) ==
            "[12/54 done, 2 running, 40 pending, 0 failed] task 12 done in 4.1s (elapsed 1m02s, ETA 3m10s)")
    assert (task_line({**counts, "failed": 1}, 7, "failed", 75.0, 5.0, None) ==
            "[12/55 done, 2 running, 40 pending, 1 failed] task 7 failed after 1m15s (elapsed 5s, ETA ?)")


def test_progress_without_a_terminal_prints_one_line_per_task_that_ends():
    def task(i, status, started=None, finished=None):
        return {"id": i, "status": status, "started": started, "finished": finished}
    stream, now = io.StringIO(), time.time()
    progress = StudyProgress(workers=2, stream=stream)  # a StringIO is no terminal
    progress.update([task(0, "done", now - 9, now - 5), task(1, "running", now), task(2, "pending")])
    assert stream.getvalue() == ""  # what was done before this run is not reported
    progress.update([task(0, "done", now - 9, now - 5), task(1, "running", now), task(2, "running", now)])
    progress.update([task(0, "done", now - 9, now - 5), task(1, "done", now - 2, now), task(2, "failed", now, now)])
    progress.update([task(0, "done", now - 9, now - 5), task(1, "done", now - 2, now), task(2, "failed", now, now)])
    progress.close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and len(lines) == 2, lines
    assert lines[0].startswith("[2/3 done, 0 running, 0 pending, 1 failed] task 1 done in 2.0s (elapsed 0s, ETA 0s)")
    assert lines[1].startswith("[2/3 done, 0 running, 0 pending, 1 failed] task 2 failed after 0.0s")


def test_progress_on_a_terminal_is_a_bar():
    stream = io.StringIO()
    progress = StudyProgress(workers=1, stream=stream, interactive=True)
    progress.update([{"id": 0, "status": "running", "started": time.time(), "finished": None}])
    progress.close()
    assert "0/1 done, 1 running, 0 pending, 0 failed | elapsed 0s, ETA ?" in stream.getvalue()


def test_a_ray_task_queued_behind_a_busy_cpu_stays_pending_until_it_starts(tmp_path):
    pytest.importorskip("ray", reason="the `ray` extra is not installed (pip install 'ganscape[ray]')")
    study = tmp_path / "study"
    write_plan(read_study({"name": "queued", "base": "ring8", "seeds": [0, 1], "eval": {"n": 400},
                           "overrides": ["train.steps=100", "train.batch_size=64", "train.log_every=50",
                                         "train.checkpoint_every=100", "train.sample_every=0",
                                         "generator.hidden=16", "discriminator.hidden=16"],
                           "resources": {"cpus": 1, "gpus": 0}}), study)
    runner = subprocess.Popen([sys.executable, "-m", "ganscape", "study", "run", str(study), "--all",
                               "--backend", "ray", "--num-cpus", "1"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    seen = set()
    with Store(study) as store:
        while runner.poll() is None:
            seen.add(tuple(t["status"] for t in store.tasks()))
            time.sleep(0.05)
        tasks = store.tasks()
    assert runner.returncode == 0, runner.stderr.read()[-3000:]
    assert ("running", "pending") in seen, seen  # task 1 waited for the only CPU, and was shown waiting
    assert [(t["status"], t["attempts"]) for t in tasks] == [("done", 1), ("done", 1)]
    assert tasks[1]["started"] >= tasks[0]["started"]


def test_study_run_of_chosen_tasks_answers_for_those_tasks(tmp_path, monkeypatch, capsys):
    """`study run --task 0` exited 1 and summed up the whole study when another task had failed."""
    study = plan(tmp_path, 3)
    with Store(study) as store:
        store.claim([1])
        store.fail(1, "RuntimeError: an earlier crash")
    monkeypatch.setenv("PYTHONPATH", f"{FAULT_DIR}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    assert main(["study", "run", str(study), "--task", "0", "--skip-failed", "--executor", "fault_tasks:tiny"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == "selected 1 tasks: 1 done, 0 running, 0 pending, 0 failed"
    assert main(["study", "run", str(study), "--all", "--skip-failed", "--executor", "fault_tasks:tiny"]) == 1
    assert capsys.readouterr().out.strip().splitlines()[-1] == "3 tasks: 2 done, 0 running, 0 pending, 1 failed"
