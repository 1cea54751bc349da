"""Run folders stay usable: config.yaml only after a successful start, a folder without checkpoints takes a new
config, a smaller budget changes nothing, files get the user's umask, checkpoints never unpickle code."""
from __future__ import annotations

import os
import pickle
import stat
import warnings

import pytest
import torch

from ganscape.config import load_config, read_yaml
from ganscape.registry import ConfigError
from ganscape.training import train
from ganscape.training.checkpoint import CheckpointError, list_checkpoints, read_checkpoint

TINY = ["generator.hidden=8", "discriminator.hidden=8", "train.log_every=5", "train.checkpoint_every=10",
        "train.sample_every=0"]


def test_a_failed_start_writes_nothing_and_the_folder_takes_a_corrected_config(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(ConfigError, match="data.root"):
        train(load_config("dcgan-mnist", [f"data.root={tmp_path}/nowhere"]), run, show_progress=False)
    assert not run.exists() or not any(run.iterdir())
    train(load_config("ring8", TINY + ["train.steps=10"]), run, show_progress=False)
    assert read_yaml(run / "config.yaml")["data"]["name"] == "ring8"


def test_a_folder_without_checkpoints_accepts_a_new_config(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("seed: 3\n")  # left by a run killed before its first checkpoint
    train(load_config("ring8", TINY + ["train.steps=10"]), run, show_progress=False)
    assert read_yaml(run / "config.yaml")["seed"] == 0 and list(list_checkpoints(run)) == [10]


def test_an_option_written_at_its_default_is_the_same_config_on_resume(tmp_path):
    """config.yaml keeps the options as written; ``discriminator.pack=1`` (the default) was refused on resume as a
    change "None -> 1"."""
    run = tmp_path / "run"
    train(load_config("ring8", TINY + ["train.steps=10"]), run, show_progress=False)
    train(load_config("ring8", TINY + ["train.steps=20", "discriminator.pack=1", "generator.layers=3"]), run,
          show_progress=False)
    assert sorted(list_checkpoints(run)) == [10, 20]
    with pytest.raises(ConfigError, match="discriminator.pack: 1 -> 2"):
        train(load_config("ring8", TINY + ["train.steps=30", "discriminator.pack=2"]), run, show_progress=False)


def test_a_kill_after_the_last_checkpoint_loses_no_preview_or_loss_plot(tmp_path):
    """The checkpoint is written before the preview and the loss plot: a kill between them left a finished run
    without either, for good, since running the command again had "nothing to do"."""
    run = tmp_path / "run"
    train(load_config("ring8", TINY + ["train.steps=10"]), run, show_progress=False)
    final, plot = run / "samples" / "step-00000010.png", run / "loss_curves.png"
    expected = final.read_bytes()
    final.unlink()
    plot.unlink()  # the state a kill right after ckpt-00000010.pt leaves
    train(load_config("ring8", TINY + ["train.steps=10"]), run, show_progress=False)
    assert final.read_bytes() == expected and plot.stat().st_size > 1000


def test_a_smaller_budget_changes_nothing_and_a_larger_one_only_the_budget(tmp_path):
    run = tmp_path / "run"
    train(load_config("ring8", TINY + ["train.steps=20"]), run, show_progress=False)
    before = (run / "config.yaml").read_text()
    result = train(load_config("ring8", TINY + ["train.steps=10"]), run, show_progress=False)
    assert result.step == 20 and (run / "config.yaml").read_text() == before
    train(load_config("ring8", TINY + ["train.steps=30"]), run, show_progress=False)
    after = read_yaml(run / "config.yaml")
    assert after["train"]["steps"] == 30 and {**after, "train": {}} == {**read_yaml_text(before), "train": {}}


def read_yaml_text(text: str) -> dict:
    from ganscape.config import parse_yaml
    return parse_yaml(text)


def test_files_get_the_users_umask(tmp_path):
    old = os.umask(0o027)
    try:
        run = tmp_path / "run"
        train(load_config("ring8", TINY + ["train.steps=10", "eval.every=10", "eval.n=100"]), run, show_progress=False)
    finally:
        os.umask(old)
    files = [run / "config.yaml", run / "metrics.jsonl", run / "results.jsonl", list_checkpoints(run)[10]]
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {oct(0o640)}


def test_a_checkpoint_that_would_run_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "hacked"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "evil.pt"
    torch.save({"format": "ganscape-checkpoint", "version": 2, "x": Payload()}, path)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert not marker.exists() and "weights_only" not in str(info.value) and str(path) in str(info.value)
    raw = tmp_path / "raw.pt"  # a plain pickle, not torch's zip: torch warned of its protocol before refusing it
    raw.write_bytes(pickle.dumps({"format": "ganscape-checkpoint", "version": 2, "x": Payload()}, protocol=4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CheckpointError, match="never loaded"):
            read_checkpoint(raw)
    assert not marker.exists()


def test_two_processes_cannot_train_into_one_folder_at_once(tmp_path):
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    args = [sys.executable, "-m", "ganscape", "train", "ring8", *TINY, "train.steps=100000", "--no-progress",
            "--out", str(run)]
    first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not list_checkpoints(run) and time.time() < deadline:
            time.sleep(0.05)
        second = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2 and "another process is using this run folder" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        first.kill()
        first.wait()
    # the lock dies with its process: the folder resumes at once
    train(load_config("ring8", TINY + ["train.steps=20"]), run, show_progress=False)


def test_results_go_into_a_folder_that_does_not_exist_yet(tmp_path):
    """`eval-images --out new/dir/r.jsonl` passed the writability check, computed the metrics, then lost them to a
    FileNotFoundError: the writer now makes the folder."""
    from ganscape.results import Record, ResultsWriter, read_results

    record = Record("samples.npz", 0, "", "kid1000_lenet-digits", 0.25, 0.01, 1000, "lenet-digits", 0.0)
    ResultsWriter(tmp_path / "new" / "dir" / "r.jsonl").write([record])
    assert read_results(tmp_path / "new" / "dir" / "r.jsonl") == [record]


def test_a_torn_last_results_line_does_not_swallow_the_next_record(tmp_path):
    """A writer killed mid-line left a line without its newline; the next record was glued onto it, and both lost.
    The torn line stays (readers skip it): rewriting the file could lose another process's append."""
    from ganscape.results import Record, ResultsWriter, read_results

    path = tmp_path / "r.jsonl"
    first = Record("s.npz", 0, "", "fid1000_raw", 1.5, None, 1000, "raw", 0.0)
    ResultsWriter(path).write([first])
    with open(path, "a") as fh:
        fh.write('{"run": "x", "metric": "fid')  # torn
    second = Record("s.npz", 0, "", "kid1000_raw", 0.25, 0.01, 1000, "raw", 0.0)
    ResultsWriter(path).write([second])
    assert read_results(path) == [first, second]


def test_when_no_checkpoint_is_readable_the_warning_says_so(tmp_path, caplog):
    """It said 'using an older checkpoint' with none left; the reason is shortened at a word, not mid-word."""
    from ganscape.training.checkpoint import newest_readable

    run = tmp_path / "run"
    train(load_config("ring8", ["generator.hidden=8", "discriminator.hidden=8", "train.steps=2",
                                "train.checkpoint_every=2", "train.sample_every=0"]), run, show_progress=False)
    only = list_checkpoints(run)[2]
    only.write_bytes(only.read_bytes()[:200])
    with caplog.at_level("WARNING", logger="ganscape"):
        assert newest_readable(run) is None
    (message,) = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert message.endswith("; no older checkpoint is left") and str(only) in message


def test_pruning_keeps_the_new_checkpoint_when_a_later_one_could_not_be_read(tmp_path):
    """keep_checkpoints=1 and an unreadable ckpt of step 6 (the run restarted before it): writing step 3 must keep
    step 3, not the unreadable 6 (before, step 3 was deleted as it was written and a kill lost the whole run)."""
    from ganscape.training.checkpoint import checkpoint_path, write_checkpoint

    unreadable = checkpoint_path(tmp_path, 6)
    unreadable.parent.mkdir(parents=True)
    unreadable.write_bytes(b"truncated")
    write_checkpoint({"step": 3}, tmp_path, 3, keep=1)
    write_checkpoint({"step": 4}, tmp_path, 4, keep=2)
    assert list(list_checkpoints(tmp_path)) == [3, 4]


def test_a_config_given_with_tuples_resumes_and_integer_betas_train(tmp_path):
    config = {"base": "ring8", "optim": {"g": {"betas": (0, 0.9)}}, "train": {"steps": 2, "checkpoint_every": 2},
              "generator": {"hidden": 8}, "discriminator": {"hidden": 8}}
    train(load_config(config), tmp_path / "run", show_progress=False)
    train(load_config(config), tmp_path / "run", show_progress=False)  # config.yaml holds lists: the same config
    assert list(list_checkpoints(tmp_path / "run")) == [2]


def test_a_run_folder_named_like_a_preset_resumes_with_the_same_command(tmp_path, monkeypatch):
    from ganscape.cli import main

    monkeypatch.chdir(tmp_path)
    command = ["train", "ring8", "train.steps=2", "train.checkpoint_every=2", "generator.hidden=8",
               "discriminator.hidden=8", "--no-progress", "--out", "ring8"]
    assert main(command) == 0
    assert main(command[:2] + ["train.steps=4"] + command[3:]) == 0  # "ring8" is the preset, not the folder
    assert list(list_checkpoints(tmp_path / "ring8")) == [2, 4]


def test_a_folder_whose_config_yaml_was_deleted_is_compared_with_its_checkpoint_s_config(tmp_path):
    config = load_config("ring8", TINY + ["train.steps=10"])
    train(config, tmp_path / "run", show_progress=False)
    (tmp_path / "run" / "config.yaml").unlink()
    with pytest.raises(ConfigError, match=r"holds a run with a different config \(loss.name: 'nonsaturating' -> "):
        train(load_config("ring8", TINY + ["train.steps=10", "loss.name=hinge"]), tmp_path / "run", show_progress=False)
    train(load_config("ring8", TINY + ["train.steps=20"]), tmp_path / "run", show_progress=False)  # resumable
    assert list(list_checkpoints(tmp_path / "run"))[-1] == 20


def test_a_checkpoint_of_another_config_than_config_yaml_is_refused_in_one_line(tmp_path):
    """config.yaml edited by hand (or checkpoints copied from another run): the command matched config.yaml, and the
    resume failed in load_state_dict with a size-mismatch traceback."""
    train(load_config("ring8", TINY + ["train.steps=10"]), tmp_path / "run", show_progress=False)
    path = tmp_path / "run" / "config.yaml"
    path.write_text(path.read_text().replace("hidden: 8", "hidden: 16"))
    with pytest.raises(ConfigError, match=r"ckpt-00000010.pt was written by a run with a different config "
                                          r"\(discriminator.hidden: 8 -> 16; generator.hidden: 8 -> 16\)"):
        train(load_config("ring8", [*TINY, "generator.hidden=16", "discriminator.hidden=16", "train.steps=20"]),
              tmp_path / "run", show_progress=False)
    assert list(list_checkpoints(tmp_path / "run")) == [10]


def test_checkpoints_from_step_100_million_on_are_found(tmp_path):
    """``ckpt-100000000.pt`` (nine digits) was written and never found again: a resume started over."""
    from ganscape.training.checkpoint import checkpoint_path

    for step in (99_999_999, 100_000_000):
        checkpoint_path(tmp_path, step).parent.mkdir(exist_ok=True)
        checkpoint_path(tmp_path, step).write_bytes(b"")
    assert list(list_checkpoints(tmp_path)) == [99_999_999, 100_000_000]


def test_each_start_and_resume_records_what_the_run_ran_on(tmp_path, monkeypatch):
    """A seeded run repeats to the last digit only on one kind of CPU and torch build: environment.jsonl says, for
    each start and resume, from which step the run went on, where and with what."""
    from ganscape.utils import environment as env_mod
    from ganscape.utils.io import read_jsonl

    run = tmp_path / "run"
    train(load_config("ring8", TINY + ["train.steps=10"]), run, show_progress=False)
    monkeypatch.setattr(env_mod, "cpuinfo_lines", lambda: ["model name\t: Other CPU", "flags\t: fpu avx512f"])
    train(load_config("ring8", TINY + ["train.steps=20"]), run, show_progress=False)
    train(load_config("ring8", TINY + ["train.steps=20"]), run, show_progress=False)  # trained already: no start
    first, resumed = read_jsonl(run / "environment.jsonl")
    assert (first["step"], resumed["step"]) == (0, 10) and first["processes"] == resumed["processes"] == 1
    assert resumed["cpu"] == "Other CPU" and resumed["cpu_features"] == ["AVX-512"] and resumed["gpu"] is None
    assert first["torch"] == torch.__version__ and first["cores"] >= 1
    assert first["ganscape"].startswith("0.") and first["started"].endswith("Z")
    assert first["threads"] == resumed["threads"] == torch.get_num_threads()


def test_what_changes_a_seeded_run_s_numbers_is_compared_on_resume():
    """CPU kind, torch, GPU and threads; the CPU's threads not on a GPU, which does the sums; keys an older line
    lacks (environment.jsonl from before a key was recorded) not at all."""
    from ganscape.utils.environment import changes_results

    cpu = {"cpu": "A", "cpu_features": [], "threads": 4, "gpu": None, "torch": "2.13"}
    assert changes_results(cpu, {**cpu, "threads": 8}) == ["threads: 4 -> 8"]
    assert changes_results({**cpu, "gpu": "H100"}, {**cpu, "gpu": "H100", "threads": 8}) == []
    assert changes_results({k: v for k, v in cpu.items() if k != "threads"}, {**cpu, "threads": 8}) == []
    assert changes_results(cpu, {**cpu, "torch": "2.14"}) == ["torch: 2.13 -> 2.14"]


def test_a_resume_with_another_thread_count_is_warned_of(tmp_path, caplog):
    """A run resumed under another OMP_NUM_THREADS (or a study re-run with other --workers) sums in another order and
    leaves the uninterrupted run's numbers (1.8e-6 after 3 steps of DCGAN); environment.jsonl did not even say so."""
    import logging

    run, threads = tmp_path / "run", torch.get_num_threads()
    train(load_config("ring8", TINY + ["train.steps=10"]), run, show_progress=False)
    torch.set_num_threads(threads + 1)
    try:
        with caplog.at_level(logging.WARNING):
            train(load_config("ring8", TINY + ["train.steps=20"]), run, show_progress=False)
    finally:
        torch.set_num_threads(threads)
    assert (f"warning: resuming at step 10 with threads: {threads} -> {threads + 1} (environment.jsonl): from here "
            "the run is not the one an uninterrupted run would give to the last digit") in caplog.text
