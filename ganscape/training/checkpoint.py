"""The one checkpoint schema, its files, and the one reader every command uses.

A checkpoint is ``RUN_DIR/checkpoints/ckpt-NNNNNNNN.pt``, written atomically (temp file, fsync, rename) and read with
``torch.load(weights_only=True)`` (no arbitrary unpickling). Version 2::

    format: "ganscape-checkpoint"   version: 2
    kind: gan | conditional | translation     step: int
    config: the run's resolved config          data_meta: {section: {name, shape, num_classes, info, kind}}
    models: {name: state_dict}                 optimizers: {name: state_dict}
    scheme: the scheme's state                 streams: {data section: batches drawn}
    rng: global RNG states                     callbacks: {state_key: state} (e.g. ema: {G: state_dict})
    precision: loss-scaler states ({} unless fp16)  rng_ranks: every rank's RNG states (multi-process runs only)
    checksum: CRC-32 of everything else (every tensor's bytes, every value), checked when read

That is enough to continue bit-exactly and to sample without the data; a flipped bit anywhere makes the file
unreadable rather than silently wrong. Checkpoints of the first format (ganscape
0.1: flat GAN keys ``G``, ``D``, ``G_ema``, ...; CycleGAN keys ``G_ab``, ..., ``pool_a``, ``shapes``) are converted
when read (``upgrade_v1``)."""
from __future__ import annotations

import logging
import os
import re
import textwrap
import warnings
import zlib
from pathlib import Path
from typing import Any

import torch

from ganscape.registry import ConfigError
from ganscape.runtime import rng_state, set_rng_state
from ganscape.utils.io import atomic_path

log = logging.getLogger(__name__)
FORMAT, VERSION = "ganscape-checkpoint", 2
REQUIRED = {"kind": str, "step": int, "config": dict, "data_meta": dict, "models": dict, "optimizers": dict,
            "scheme": dict, "streams": dict, "rng": dict, "callbacks": dict}  # what every reader may use
PATTERN = re.compile(r"ckpt-(\d{8,})\.pt$")  # 8 digits, more from step 100,000,000


class CheckpointError(ConfigError):
    """A checkpoint file cannot be read (truncated, corrupt, or not a ganscape checkpoint)."""


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return checkpoint_dir(run_dir) / f"ckpt-{step:08d}.pt"


def list_checkpoints(run_dir: str | Path) -> dict[int, Path]:
    """Step -> path of every checkpoint file of a run, ascending."""
    folder = checkpoint_dir(run_dir)
    matches = [(PATTERN.match(path.name), path) for path in folder.iterdir()] if folder.is_dir() else []
    return dict(sorted((int(match.group(1)), path) for match, path in matches if match))


def trainer_state(trainer) -> dict[str, Any]:
    """The checkpoint of a trainer's current state (see the module docstring)."""
    parts = trainer.parts
    return {
        "format": FORMAT, "version": VERSION, "kind": parts.kind, "step": trainer.step,
        "config": trainer.config, "data_meta": parts.data_meta(),
        "models": {name: m.state_dict() for name, m in parts.modules().items()},
        "optimizers": {name: opt.state_dict() for name, opt in parts.optimizers().items()},
        "scheme": parts.scheme.state_dict(),
        "streams": {name: stream.position for name, stream in parts.streams().items()},
        "rng": rng_state(),
        **({"rng_ranks": trainer.rank_rng} if trainer.rank_rng else {}),
        "precision": parts.precision.state_dict(),
        "callbacks": {cb.state_key: cb.state_dict() for cb in trainer.callbacks if cb.state_key},
    }


def checksum(tree: Any, crc: int = 0, path: str = "") -> int:
    """CRC-32 of a checkpoint's contents: every tensor's dtype, shape and bytes, every other value's repr."""
    if isinstance(tree, torch.Tensor):
        tensor = tree.detach().cpu().contiguous()
        crc = zlib.crc32(f"{path}:{tensor.dtype}{tuple(tensor.shape)}".encode(), crc)
        return zlib.crc32(tensor.reshape(-1).view(torch.uint8).numpy(), crc)
    if isinstance(tree, dict):
        for key, value in tree.items():
            crc = checksum(value, crc, f"{path}/{key}")
        return crc
    if isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            crc = checksum(value, crc, f"{path}/{index}")
        return crc
    return zlib.crc32(f"{path}={tree!r}".encode(), crc)


def write_failure(path: Path, tmp: Path, err: RuntimeError) -> OSError:
    """The OSError a failed ``torch.save`` of ``path`` (into ``tmp``) stands for: the process's file size limit
    when ``tmp`` reached it, no space left when the disk is (nearly) full, else an I/O error with torch's words."""
    import errno
    import resource
    import shutil

    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and tmp.exists() and tmp.stat().st_size >= limit:
        code = errno.EFBIG
    elif shutil.disk_usage(path.parent).free < 1 << 20:
        code = errno.ENOSPC
    else:
        return OSError(errno.EIO, f"writing the checkpoint failed ({str(err).splitlines()[0]})", str(path))
    return OSError(code, os.strerror(code), str(path))


def write_checkpoint(state: dict[str, Any], run_dir: str | Path, step: int, keep: int = 0) -> Path:
    """Atomically write ``state`` (with its checksum) as the checkpoint of ``step``; ``keep`` > 0 deletes all but
    the newest ``keep`` up to ``step``, and any of later steps: a run writes its steps in order, so a later one is
    one it could not read when it resumed (it would otherwise count as one of the ``keep`` and push out this one)."""
    path = checkpoint_path(run_dir, step)
    with atomic_path(path) as tmp:
        try:
            torch.save({**state, "checksum": checksum(state)}, tmp)
        except RuntimeError as err:  # torch's zip writer reports a full disk as "unexpected pos ..."
            raise write_failure(path, tmp, err) from None
    if keep > 0:
        checkpoints = list_checkpoints(run_dir)
        kept = [s for s in checkpoints if s <= step][-keep:]
        for old_step, old in checkpoints.items():
            if old_step not in kept:
                old.unlink(missing_ok=True)
    return path


def read_checkpoint(path: str | Path, device: torch.device | str = "cpu",
                    config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load a checkpoint safely, as a version-2 state with its tensors on ``device`` (``on_device``). ``config``
    (the run's config.yaml) is needed only for first-format checkpoints, which did not store their config."""
    return on_device(read_on_cpu(Path(path), config), torch.device(device))


def on_device(tree: Any, device: torch.device, key: Any = None, rng: bool = False) -> Any:
    """``tree`` with its tensors moved to ``device``, but for the RNG states (``rng``, ``rng_ranks``), which
    ``torch.set_rng_state`` takes only as CPU tensors (a resume on a GPU stopped with "RNG state must be a
    torch.ByteTensor"), and optimisers' ``step`` counts, which torch keeps on the CPU (on a GPU every optimiser step
    would wait for the device to read them)."""
    if device.type == "cpu":
        return tree
    if isinstance(tree, dict):
        return type(tree)((k, on_device(v, device, k, rng or k in ("rng", "rng_ranks"))) for k, v in tree.items())
    if isinstance(tree, (list, tuple)):
        return type(tree)(on_device(v, device, None, rng) for v in tree)
    if isinstance(tree, torch.Tensor) and not rng and not (key == "step" and tree.ndim == 0):
        return tree.to(device)
    return tree


def read_on_cpu(path: Path, config: dict[str, Any] | None) -> dict[str, Any]:
    """``read_checkpoint``'s state, every tensor on the CPU."""
    try:
        with warnings.catch_warnings():  # torch warns of a raw pickle's protocol before refusing it: one line, ours
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint file not found") from None
    except Exception as err:  # truncated or corrupt archives fail in many ways inside torch.load
        reason = textwrap.shorten(str(err).splitlines()[0], 120, placeholder=" ...") if str(err) else ""
        reason = reason or type(err).__name__
        if "weights_only" in reason or "Weights only" in reason:
            reason = "corrupt, or it holds objects other than tensors and plain data, which are never loaded"
        raise CheckpointError(f"{path}: unreadable checkpoint, truncated or corrupt ({reason})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a ganscape checkpoint (a {type(state).__name__}, not a mapping)")
    if state.get("format") == FORMAT:
        if state.get("version") != VERSION:
            raise CheckpointError(f"{path}: checkpoint format version {state.get('version')} is not readable "
                                  f"by this ganscape (reads version {VERSION} and the first format)")
        if state.pop("checksum", None) != checksum(state):
            raise CheckpointError(f"{path}: corrupt checkpoint (its contents do not match their checksum)")
        missing = [key for key in REQUIRED if not isinstance(state.get(key), REQUIRED[key])]
        if missing:
            raise CheckpointError(f"{path}: not a complete ganscape checkpoint (no valid {', '.join(missing)})")
        return state
    if "step" in state and ("G" in state or "G_ab" in state):
        if config is None:
            raise CheckpointError(f"{path}: a first-format checkpoint needs its run's config.yaml to be read")
        try:
            return upgrade_v1(state, config)
        except (KeyError, TypeError, ValueError, AttributeError) as err:  # a crafted or damaged first-format file
            raise CheckpointError(f"{path}: not a complete first-format checkpoint ({type(err).__name__}: {err})") \
                from None
    raise CheckpointError(f"{path}: not a ganscape checkpoint (keys: {', '.join(sorted(map(str, state))[:8])})")


def upgrade_v1(state: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Convert a first-format checkpoint (ganscape 0.1) into the version-2 layout."""
    common = {"format": FORMAT, "version": VERSION, "step": state["step"], "config": config, "rng": state["rng"],
              "optimizers": {"g": state["opt_g"], "d": state["opt_d"]}}
    if "G_ab" in state:
        shape_a, shape_b = state["shapes"]
        meta = {key: {"name": config[key]["name"], "shape": list(shape), "num_classes": 0, "info": {},
                      "kind": "gray" if shape[0] == 1 else "color"}
                for key, shape in (("data", shape_a), ("data_b", shape_b))}
        return {**common, "kind": "translation", "data_meta": meta,
                "models": {k: state[k] for k in ("G_ab", "G_ba", "D_a", "D_b")},
                "scheme": {"pool_a": state["pool_a"], "pool_b": state["pool_b"]},
                "streams": {"data": state["positions"][0], "data_b": state["positions"][1]}, "callbacks": {}}
    from ganscape.config.validate import effective
    from ganscape.data.meta import data_kind
    from ganscape.models import GENERATORS

    meta = dict(state["data_meta"])
    meta["kind"] = data_kind(meta)
    conditional = meta["num_classes"] > 0 and bool(effective(config, "generator", "conditional", GENERATORS))
    return {**common, "kind": "conditional" if conditional else "gan", "data_meta": {"data": meta},
            "models": {"G": state["G"], "D": state["D"], "prior": state["prior"]}, "scheme": state["scheme"],
            "streams": {"data": state["data_position"]},
            "callbacks": {"ema": {"G": state["G_ema"]}} if state["G_ema"] is not None else {}}


def newest_readable(run_dir: str | Path, device: torch.device | str = "cpu",
                    config: dict[str, Any] | None = None, warn: bool = True) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that can be read, skipping (with one warning each, unless ``warn`` is False)
    unreadable ones."""
    paths = list(reversed(list_checkpoints(run_dir).values()))
    for i, path in enumerate(paths):
        try:
            return path, read_checkpoint(path, device, config)
        except CheckpointError as err:
            if warn:
                then = "trying the next older one" if i + 1 < len(paths) else "no older checkpoint is left"
                log.warning("warning: skipping %s (%s); %s", path, str(err).split(": ", 1)[-1], then)
    return None


def restore_trainer(trainer, state: dict[str, Any]) -> None:
    """Put a (version-2) checkpoint back into a trainer built from the same config."""
    parts = trainer.parts
    for name, module in parts.modules().items():
        module.load_state_dict(state["models"][name])
    for name, opt in parts.optimizers().items():
        opt.load_state_dict(state["optimizers"][name])
    parts.scheme.load_state_dict(state["scheme"])
    for name, stream in parts.streams().items():
        stream.position = state["streams"][name]
    for cb in trainer.callbacks:
        if cb.state_key and cb.state_key in state["callbacks"]:
            cb.load_state_dict(state["callbacks"][cb.state_key])
    parts.precision.load_state_dict(state.get("precision", {}))
    set_rng_state(rank_rng_state(state))
    trainer.step = state["step"]


def rank_rng_state(state: dict[str, Any]) -> dict:
    """The RNG state this process resumes with: its rank's own in a multi-process run saved with as many ranks, else
    the saved one (in a multi-process run from a single-process checkpoint, each rank then reseeds its own stream
    from the seed, the step and its rank)."""
    from ganscape.distributed import rank_seed, world

    rank, size = world()
    ranks = state.get("rng_ranks")
    if size == 1:
        return state["rng"]
    if ranks and len(ranks) == size:
        return ranks[rank]
    torch.manual_seed(rank_seed(state["config"]["seed"] + state["step"], rank))
    return rng_state()
