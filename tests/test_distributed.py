"""Data-parallel training: 2 gloo processes under torchrun equal one process with the same global batch."""
from __future__ import annotations

import os
import subprocess
import sys

import torch

from ganscape.config import load_config
from ganscape.training import build_parts, train
from ganscape.training.checkpoint import list_checkpoints, read_checkpoint

OVERRIDES = ["train.steps=30", "train.batch_size=64", "train.log_every=10", "train.checkpoint_every=30",
             "train.sample_every=0", "generator.hidden=32", "discriminator.hidden=32",
             "generator.layers=2", "discriminator.layers=2", "device=cpu"]


def test_two_gloo_ranks_equal_a_single_process_run(tmp_path):
    config = load_config("ring8", OVERRIDES)
    train(config, tmp_path / "single", show_progress=False)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "ganscape", "train", "ring8", *OVERRIDES, "--no-progress", "--out", str(tmp_path / "ddp")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert list(list_checkpoints(tmp_path / "ddp")) == [30]  # only rank 0 writes
    single = read_checkpoint(tmp_path / "single" / "checkpoints" / "ckpt-00000030.pt")
    ddp = read_checkpoint(tmp_path / "ddp" / "checkpoints" / "ckpt-00000030.pt")
    for net in ("G", "D"):
        for key, value in single["models"][net].items():
            torch.testing.assert_close(ddp["models"][net][key], value, rtol=1e-4, atol=1e-5)
    # training moved the weights away from their initialisation, so the comparison is not vacuous
    init = build_parts(config).G.state_dict()
    assert max(float((init[k] - single["models"]["G"][k]).abs().max()) for k in init) > 1e-3
    assert single["streams"] == ddp["streams"] == {"data": 30}
    logged = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert len(logged) == 3  # logs written once, by rank 0
