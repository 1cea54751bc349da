"""Training under faults: killed at random moments (during checkpoint writes too) and resumed, and a corrupt
newest checkpoint. The final weights equal an uninterrupted run's bit for bit, no temporary file is left, no
checkpoint is unreadable, and every command falls back to the newest readable checkpoint with one warning."""
from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganscape.training.checkpoint import list_checkpoints, read_checkpoint

ARGS = ["train", "ring8", "train.steps=300", "train.checkpoint_every=1", "train.keep_checkpoints=3",
        "train.log_every=10", "train.sample_every=0", "generator.hidden=16", "discriminator.hidden=16",
        "train.ema_decay=0.9"]


def train_process(run: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ganscape", *ARGS, *extra, "--no-progress", "--out", str(run)],
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def final_state(run: Path) -> dict:
    return read_checkpoint(list_checkpoints(run)[max(list_checkpoints(run))])


def assert_same_run(a: dict, b: dict) -> None:
    assert a["step"] == b["step"] and a["streams"] == b["streams"]
    for part in ("models", "optimizers", "callbacks"):
        flat_a, flat_b = flatten(a[part]), flatten(b[part])
        assert flat_a.keys() == flat_b.keys()
        for key, value in flat_a.items():
            if key == "/clock/train_seconds":  # wall time, not training state
                continue
            same = torch.equal(value, flat_b[key]) if isinstance(value, torch.Tensor) else value == flat_b[key]
            assert same, f"{part}{key} differs"
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])


def flatten(tree, prefix: str = "") -> dict:
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, (list, tuple)) else None
    if items is None:
        return {prefix: tree}
    return {k: v for key, value in items for k, v in flatten(value, f"{prefix}/{key}").items()}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    run = tmp_path_factory.mktemp("whole") / "run"
    proc = train_process(run)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    return final_state(run)


def test_ten_kills_at_random_moments_then_resume_equals_an_uninterrupted_run(tmp_path, uninterrupted):
    run, rng, kills = tmp_path / "run", random.Random(1), 0
    while kills < 10:
        proc = train_process(run)
        start = time.time()
        while not list_checkpoints(run) and proc.poll() is None and time.time() - start < 120:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.4))  # checkpoint_every=1: most of a step's time is a checkpoint write
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        for path in list_checkpoints(run).values():
            read_checkpoint(path)  # every checkpoint on disk is complete and readable
    assert kills == 10, "the run finished before it was killed 10 times"
    proc = train_process(run)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert_same_run(final_state(run), uninterrupted)
    # a kill mid-write leaves a temporary file; starting the run again removes it
    assert not [p for folder in (run, run / "checkpoints") for p in folder.glob(".*.tmp")]


def largest_record_middle(data: bytes) -> int:
    """Offset of the middle of the largest record's data in a zip archive (torch.save's format): its local header
    holds its own padding, longer than the central directory's extra field."""
    import struct
    import zipfile

    info = max(zipfile.ZipFile(io.BytesIO(data)).infolist(), key=lambda i: i.file_size)
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    return info.header_offset + 30 + name_len + extra_len + info.file_size // 2 - 32


def corrupt(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flipped":  # 64 bytes in the middle of the largest tensor's stored bytes (not the zip's padding)
        flipped = bytearray(data)
        middle = largest_record_middle(data)
        for pos in range(middle, middle + 64):
            flipped[pos] ^= 0xFF
        path.write_bytes(bytes(flipped))
    else:
        path.write_text("not a checkpoint at all\n")


@pytest.mark.parametrize("how", ["truncated", "flipped", "replaced"])
def test_a_corrupt_newest_checkpoint_falls_back_with_one_warning(tmp_path, how, uninterrupted):
    run = tmp_path / "run"
    proc = train_process(run, "train.steps=200", "train.checkpoint_every=50", "train.keep_checkpoints=0")
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    newest = list_checkpoints(run)[200]
    corrupt(newest, how)
    for command in (["sample", str(run), "--n", "100", "--out", str(tmp_path / "s.png")], ["eval", str(run), "--n", "100"]):
        done = subprocess.run([sys.executable, "-m", "ganscape", *command], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("warning: skipping") and str(newest) in lines[0], done.stderr
        assert lines[0].endswith("trying the next older one"), lines[0]
        assert "step 150" in done.stdout and "weights_only=False" not in done.stderr
    if how == "flipped":  # --checkpoint all stops at the corrupt one before it appends any record
        results = (run / "results.jsonl").read_bytes()
        done = subprocess.run([sys.executable, "-m", "ganscape", "eval", str(run), "--n", "100", "--checkpoint", "all"],
                              capture_output=True, text=True, timeout=120)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and str(newest) in lines[0], done.stderr
        assert (run / "results.jsonl").read_bytes() == results
    # training resumes from step 150, rewrites step 200, and continues exactly as an uninterrupted run
    proc = train_process(run)
    assert proc.wait(timeout=300) == 0
    assert str(newest) in proc.stderr.read()
    assert_same_run(final_state(run), uninterrupted)
