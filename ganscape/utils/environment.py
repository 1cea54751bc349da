"""What a run or a benchmark ran on: CPU model and the features that change its float results, cores, GPU, torch,
Python and the ganscape source.

A seeded run repeats to the last digit only on one kind of CPU (and one torch build and thread count): AVX-512 and AMX
kernels round differently from AVX2 ones, and another number of threads sums in another order.
``RUN_DIR/environment.jsonl`` therefore gets one line per start or resume of a run
(``training.callbacks.EnvironmentLog``), and every benchmark prints ``describe(environment())`` first."""
from __future__ import annotations

import functools
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

FLOAT_FEATURES = (("avx512f", "AVX-512"), ("amx_tile", "AMX"))  # /proc/cpuinfo flag -> the name we report


def environment(device: str = "cpu") -> dict[str, Any]:
    """{cpu, cpu_features, cores, threads (torch's, on the CPU: another count sums in another order), gpu (None on
    CPU), torch, python, ganscape: version and source commit}."""
    import torch

    import ganscape

    cpuinfo = cpuinfo_lines()
    flags = cpu_flags(cpuinfo)
    on_gpu = str(device).startswith("cuda") and torch.cuda.is_available()
    gpu = torch.cuda.get_device_name(torch.device(device)) if on_gpu else None  # cuda:1's, not the current GPU's
    return {"cpu": cpu_model(cpuinfo), "cpu_features": [name for flag, name in FLOAT_FEATURES if flag in flags],
            "cores": usable_cores(), "threads": torch.get_num_threads(), "gpu": gpu, "torch": torch.__version__,
            "python": platform.python_version(),
            "ganscape": f"{ganscape.__version__} ({source_commit()})"}


REPEAT_KEYS = ("cpu", "cpu_features", "threads", "gpu", "torch")  # what decides whether a seeded run repeats


def changes_results(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for each of ``REPEAT_KEYS`` that differs (a key the older line lacks is not compared; the
    CPU's thread count not on a GPU, which does the sums)."""
    keys = [key for key in REPEAT_KEYS if not (key == "threads" and now.get("gpu"))]
    return [f"{key}: {before[key]} -> {now.get(key)}" for key in keys if key in before and before[key] != now.get(key)]


def describe(env: dict[str, Any]) -> str:
    """One line: ``machine: CPU (AVX-512, AMX), 2 cores[, GPU name]; torch V; ganscape V (commit); UTC time``."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"machine: {machine_kind(env, cores=True)}; torch {env['torch']}; ganscape {env['ganscape']}; {stamp}"


def machine_kind(env: dict[str, Any], cores: bool = False) -> str:
    """``CPU model (AVX-512, AMX)[, N cores][, GPU name]``: what decides whether two runs can repeat each other."""
    features = f" ({', '.join(env['cpu_features'])})" if env.get("cpu_features") else ""
    count = f", {env['cores']} cores" if cores else ""
    gpu = f", GPU {env['gpu']}" if env.get("gpu") else ""
    return f"{env.get('cpu', 'unknown CPU')}{features}{count}{gpu}"


def cpu_model(cpuinfo: list[str]) -> str:
    """The CPU's model name (Linux: the lines of /proc/cpuinfo), else what ``platform`` knows."""
    for line in cpuinfo:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags(cpuinfo: list[str]) -> set[str]:
    for line in cpuinfo:
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpuinfo_lines() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:  # not Linux
        return []


def usable_cores() -> int:
    """The cores this process may run on (its affinity on Linux; all of them where that is unknown)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@functools.lru_cache(maxsize=1)
def source_commit() -> str:
    """The short git commit of the ganscape checkout, ``+changes`` when its tracked files differ from it;
    ``not a git checkout`` for an installed copy. Asked once per process (two git calls), not at every run a study
    worker starts: the code a process runs is the code it imported."""
    here = Path(__file__).resolve().parents[1]
    try:
        commit = git(here, "rev-parse", "--short", "HEAD")
        changed = git(here, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return commit + ("+changes" if changed else "")


def git(folder: Path, *args: str) -> str:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # a status check must not take the index lock of a busy checkout
    return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=10, check=True,
                          env=env, stdin=subprocess.DEVNULL).stdout.strip()


__all__ = ["describe", "environment", "machine_kind", "source_commit"]
