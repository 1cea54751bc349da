"""Process group, DistributedDataParallel wrapping, rank seeds and the collectives a GAN step needs (see the package
docstring)."""
from __future__ import annotations

import logging
import os
import pickle
import sys
from typing import Any, Callable, NoReturn, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ganscape.registry import ConfigError

T = TypeVar("T")
RANK_SEED_STRIDE = 1_000_003  # rank r of a run seeded s draws from seed s * stride + r + 1 (never s itself)


def init_from_env(cpu: bool = False) -> bool:
    """Join the process group described by torchrun's environment (``WORLD_SIZE`` > 1); returns whether
    this process is part of a multi-process run. ``cpu`` (a ``device=cpu`` run): gloo only, CUDA untouched, on a GPU
    host too; else each rank takes the GPU of its ``LOCAL_RANK``, refused in one line when there are fewer GPUs."""
    if dist.is_initialized():
        return dist.get_world_size() > 1
    if not launched_as_ranks():
        return False
    if torch.cuda.is_available() and not cpu:  # GPU tensors through NCCL, CPU tensors through gloo
        local, gpus = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
        if local >= gpus:
            raise ConfigError(f"torchrun: process {local} of this machine has no GPU of its own ({gpus} GPU(s)); "
                              f"use --nproc_per_node {gpus} or fewer, or device=cpu")
        torch.cuda.set_device(local)
        dist.init_process_group("cpu:gloo,cuda:nccl")
    else:
        dist.init_process_group("gloo")
    return True


def launched_as_ranks() -> bool:
    """Whether this process is one of several ranks started by torchrun (``WORLD_SIZE`` > 1)."""
    return launched_world_size() > 1


def launched_world_size() -> int:
    """The number of processes torchrun started (``WORLD_SIZE``; 1 outside it, or where it is no whole number >= 1),
    known before the process group."""
    size = os.environ.get("WORLD_SIZE", "1").strip()
    return int(size) if size.isdigit() and int(size) >= 1 else 1


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside a process group."""
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def is_main_process() -> bool:
    return world()[0] == 0


def leave() -> None:
    """Leave the process group, if this process is in one. A rank should then end with ``exit_rank``."""
    if dist.is_initialized():
        dist.destroy_process_group()


def exit_rank(code: int) -> NoReturn:
    """End this rank of a multi-process run with exit status ``code``, without Python's interpreter teardown.

    DistributedDataParallel keeps the gloo process group (and its worker threads) alive after ``leave``, so it is
    torn down with the interpreter; a worker thread that then releases a tensor of the last collectives needs the GIL,
    which no thread can take while the interpreter finalizes, and the process aborts ("terminate called without an
    active exception", SIGABRT) after a run that succeeded. A 2-process reproduction (DDP steps and small collectives,
    then ``destroy_process_group`` and a normal exit) aborted in 3 of 20 runs. Output streams and logging are flushed
    first; what a run writes is complete by then (checkpoints are written atomically, the metrics log is flushed
    line by line, and the TensorBoard writer and progress bar close at the end of the fit)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more to deliver
            pass
    os._exit(code)


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def local_batch_size(batch_size: int, pack: int = 1, size: int | None = None) -> int:
    """Each of ``size`` ranks' (default: this run's) share of the global ``train.batch_size``; ConfigError when it
    does not divide evenly (into whole PacGAN groups of ``pack``). Checked when the config is read under torchrun
    and again when the parts are built, before any training."""
    size = size or world()[1]
    if batch_size % size:
        raise ConfigError(f"train.batch_size: {batch_size} (the global batch) is not divisible by the {size} processes "
                          f"of this torchrun run; use a multiple of {size}")
    if (batch_size // size) % pack:
        raise ConfigError(f"train.batch_size: each of the {size} processes gets {batch_size // size} samples, not a "
                          f"multiple of discriminator.pack ({pack}); use a multiple of {size * pack}")
    return batch_size // size


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s random stream (latents, penalty draws) in a multi-process run of seed ``seed``."""
    return seed * RANK_SEED_STRIDE + rank + 1


def ddp_wrapper(device: torch.device) -> Callable[[nn.Module], nn.Module] | None:
    """module -> DistributedDataParallel(module) for this process's device; None outside a multi-process run.

    By default DDP copies rank 0's buffers to every rank at each forward: batch-norm running
    statistics and spectral-norm power-iteration vectors are then the same on every rank whenever a step uses them."""
    if world()[1] == 1:
        return None
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    return lambda module: DistributedDataParallel(module, device_ids=device_ids)


def average_gradients_of(module: nn.Module) -> None:
    """Average ``module``'s gradients over ranks as they are computed (a hook per parameter), for parameters trained
    outside a DistributedDataParallel module (a learnable latent prior). No-op in a single process."""
    size = world()[1]
    if size == 1:
        return
    for param in module.parameters():
        if param.requires_grad:
            param.register_hook(lambda grad: _all_reduce_mean(grad.clone(), size))


def _all_reduce_mean(tensor: torch.Tensor, size: int) -> torch.Tensor:
    dist.all_reduce(tensor)
    return tensor / size


def average(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of ``tensor`` over ranks (a copy; the tensor itself in a single process)."""
    size = world()[1]
    return tensor if size == 1 else _all_reduce_mean(tensor.detach().clone(), size)


def all_ranks(flag: bool) -> bool:
    """Whether ``flag`` holds on every rank (each rank decides from its own batch, e.g. "losses stayed finite"; all
    ranks must then act alike, or the ones that go on wait forever in their next collective)."""
    if world()[1] == 1:
        return flag
    value = torch.tensor([int(flag)], device=collective_device())
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def collective_device() -> torch.device:
    """Where a small tensor of a collective lives: the CPU whenever the group has gloo (``init_from_env``'s groups:
    gloo alone for CPU runs, which leave CUDA alone on a GPU host too, and ``cpu:gloo,cuda:nccl``); this rank's GPU in
    a group of NCCL alone (one a script made itself), which reduces GPU tensors only."""
    if "gloo" in str(dist.get_backend()):
        return torch.device("cpu")
    return torch.device("cuda", torch.cuda.current_device())


def from_main(tensor: torch.Tensor) -> torch.Tensor:
    """Rank 0's value of ``tensor`` on every rank (in place; a decision made once, e.g. E-GAN's selection)."""
    if world()[1] > 1:
        dist.broadcast(tensor, src=0)
    return tensor


def every_rank(value: Any) -> list[Any]:
    """Every rank's ``value`` (a small picklable object from our own ranks), in rank order, on every rank."""
    size = world()[1]
    if size == 1:
        return [value]
    out = [None] * size
    dist.all_gather_object(out, value)
    return out


def gather_to_main(value: Any) -> list[Any] | None:
    """Every rank's ``value`` (any picklable object), as a list in rank order on rank 0, None on the others."""
    rank, size = world()
    if size == 1:
        return [value]
    out = [None] * size if rank == 0 else None
    dist.gather_object(value, out, dst=0)
    return out


def computed_on_main(compute: Callable[[], T]) -> T:
    """``compute()`` run by rank 0 alone, its result (a small picklable object) returned on every rank; ``compute()``
    itself in a single process. An exception of rank 0 is raised on every rank (see ``decided_on_main``)."""
    return decided_on_main(compute, lambda result: result)[1]


def decided_on_main(compute: Callable[[], T], decide: Callable[[T], Any]) -> tuple[T | None, Any]:
    """(``compute()`` on rank 0 and None on the other ranks, ``decide`` of that result on every rank): rank 0 alone
    computes and keeps what it computed (features, say); the others learn only the decision, a small picklable
    object. An exception rank 0 raises in either is raised on every rank, where the others would otherwise wait
    forever for the decision: the same one on rank 0, a copy on the others (a RuntimeError naming it when it does
    not survive pickling). In a single process: (``compute()``, its decision)."""
    rank, size = world()
    if size == 1:
        result = compute()
        return result, decide(result)
    box: list[Any] = [None]
    result = error = None
    if rank == 0:
        try:
            result = compute()
            box[0] = (True, decide(result))
            pickle.loads(pickle.dumps(box[0]))  # what the broadcast below sends, and each rank unpickles
        except Exception as err:  # told to every rank, then raised here too
            error, box[0] = err, (False, travelling(err))
    dist.broadcast_object_list(box, src=0)
    done, decision = box[0]
    if error is not None:
        raise error
    if not done:
        raise decision
    return result, decision


def computed_on_every_rank(compute: Callable[[], T]) -> T:
    """``compute()`` on every rank (its share of some work), returned on that rank; ``compute()`` itself in a single
    process. When it raises on any rank, every rank raises (see ``decided_on_every_rank``)."""
    return decided_on_every_rank(compute, lambda result: None)[0]


def decided_on_every_rank(compute: Callable[[], T], decide: Callable[[T], Any]) -> tuple[T, list[Any]]:
    """(``compute()`` on this rank, every rank's ``decide`` of its own result in rank order): each rank keeps what it
    computed (its share of some work) and learns what every rank decided from its own (a small picklable object: a
    shape, "finite"), in one collective. When either raises on any rank, every rank raises: its own exception where
    it was raised, a copy of the lowest such rank's on the others (a RuntimeError naming it when it does not survive
    pickling), as ``decided_on_main`` does. Without that, the ranks that succeeded would wait in their next
    collective for one that left: until torchrun stops them, or the process group's timeout (gloo's default 30
    minutes, NCCL's 10) under a launcher that does not. A KeyboardInterrupt or SystemExit is not caught (torchrun sends
    Ctrl-C to every rank). In a single process: (``compute()``, [its decision])."""
    rank, size = world()
    if size == 1:
        result = compute()
        return result, [decide(result)]
    result = error = None
    try:
        result = compute()
        told = (True, decide(result))
        pickle.loads(pickle.dumps(told))  # what the all-gather below sends, and each rank unpickles
    except Exception as err:  # told to every rank, then raised here too
        error, told = err, (False, travelling(err, rank))
    everyone = every_rank(told)
    if error is not None:
        raise error
    if (first := next((e for done, e in everyone if not done), None)) is not None:
        raise first
    return result, [decision for _, decision in everyone]


def travelling(err: Exception, rank: int = 0) -> Exception:
    """``err``, or a RuntimeError with its type, message and ``rank`` when it does not come back from pickling (an
    exception holding a lock; one whose ``__init__`` takes other arguments than its ``args``)."""
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:  # whatever pickling raises for this exception: the copy carries its text
        pass
    try:
        text = str(err)
    except Exception:  # an exception whose message itself fails must still reach the other ranks
        text = "(its message cannot be read)"
    return RuntimeError(f"on rank {rank}: {type(err).__name__}: {text}")


def exactly_float32(values: torch.Tensor | np.ndarray) -> bool:
    """Whether every value of a floating tensor or array survives a round trip through float32 (a network's float32
    outputs, widened), so storing or sending it as float32 loses nothing."""
    if isinstance(values, np.ndarray):
        return np.array_equal(values.astype(np.float32).astype(values.dtype), values)
    return torch.equal(values.float().to(values.dtype), values)


def gathered_on_main(local: torch.Tensor | np.ndarray | None) -> torch.Tensor | np.ndarray | None:
    """Every rank's rows of ``local`` (a CPU tensor or numpy array, rows along dim 0) joined in rank order on rank 0,
    as the ranks' type; None on the other ranks; ``local`` itself in a single process. A rank with no rows passes
    None (its share of a small sample count was empty); None when every rank does. float64 rows that are exactly
    float32 on every rank (a network's features, widened) travel as float32, half the memory. CPU tensors travel
    through gloo, also in a ``cpu:gloo,cuda:nccl`` group."""
    rank, size = world()
    if size == 1:
        return local
    numpy_rows = isinstance(local, np.ndarray)
    tensor, layouts = decided_on_every_rank(lambda: torch.from_numpy(local) if numpy_rows else local,
                                            lambda mine: layout_of(mine, numpy_rows))
    if all(layout is None for layout in layouts):
        return None
    check_layouts(layouts)
    rows = [0 if layout is None else layout[0][0] for layout in layouts]
    shape, dtype, as_numpy, _ = next((layout[0][1:], *layout[1:]) for layout in layouts if layout is not None)
    travel = torch.float32 if all(layout is None or layout[3] for layout in layouts) else dtype
    # every allocation before the gather, so that rank 0 out of memory tells every rank instead of leaving them in it
    padded, parts, joined = computed_on_every_rank(lambda: gather_buffers(tensor, rows, shape, travel, dtype))
    dist.gather(padded, parts, dst=0)
    if rank != 0:
        return None
    start = 0
    for part, count in zip(parts, rows):
        joined[start:start + count] = part[:count]
        start += count
    return joined.numpy() if as_numpy else joined


def layout_of(tensor: torch.Tensor | None, as_numpy: bool) -> tuple | None:
    """What ``gathered_on_main`` tells the other ranks of this rank's rows: (shape, dtype, whether numpy, whether
    float64 that is exactly float32), None for no rows."""
    if tensor is None:
        return None
    return (tuple(tensor.shape), tensor.dtype, as_numpy,
            tensor.dtype == torch.float64 and exactly_float32(tensor))


def check_layouts(layouts: list[tuple | None]) -> None:
    """Raise (on every rank alike, since every rank holds every layout) when the ranks' rows differ in shape past
    dim 0, dtype or type: joining them would cast or broadcast some ranks' values without a word."""
    kinds = {(layout[0][1:], layout[1], layout[2]) for layout in layouts if layout is not None}
    if len(kinds) > 1:
        ranks = ", ".join(f"rank {rank}: {'numpy' if layout[2] else 'tensor'} {layout[1]} rows of shape "
                          f"{layout[0][1:]}" for rank, layout in enumerate(layouts) if layout is not None)
        raise ValueError(f"gathered_on_main: the ranks' rows differ ({ranks})")


def gather_buffers(tensor: torch.Tensor | None, rows: list[int], shape: tuple[int, ...], travel: torch.dtype,
                   dtype: torch.dtype) -> tuple[torch.Tensor, list[torch.Tensor] | None, torch.Tensor | None]:
    """(this rank's rows as ``travel``, padded to the longest share of ``rows``; on rank 0 room for every rank's
    padded rows and for the joined result in ``dtype``, None on the others)."""
    padded = torch.zeros((max(rows), *shape), dtype=travel)
    if tensor is not None:
        padded[:len(tensor)] = tensor
    if world()[0] != 0:
        return padded, None, None
    return padded, [torch.empty_like(padded) for _ in rows], torch.empty((sum(rows), *shape), dtype=dtype)
