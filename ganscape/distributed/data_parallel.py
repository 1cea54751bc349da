"""Process group set-up, batch sharding and gradient averaging (see the package docstring)."""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

from ganscape.penalties.base import group_size
from ganscape.registry import ConfigError


def init_from_env() -> bool:
    """Join the process group described by torchrun's environment (``WORLD_SIZE`` > 1); returns whether
    this process is part of a multi-process run."""
    if dist.is_initialized():
        return dist.get_world_size() > 1
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return True


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside a process group."""
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def is_main_process() -> bool:
    return world()[0] == 0


def leave() -> None:
    """Leave the process group, if this process is in one. Exiting with a live gloo group can abort the process
    ("terminate called without an active exception") when its threads are torn down mid-exit."""
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def _average_gradients(params: list[torch.nn.Parameter], size: int) -> None:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])  # one all-reduce per optimiser step
    dist.all_reduce(flat)
    flat /= size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def shard_parts(parts) -> None:
    """Make a GAN run's parts one rank of a data-parallel run: same initial weights everywhere,
    each rank keeps its slice of every global batch, gradients averaged before each step."""
    rank, size = world()
    if size == 1:
        return
    if parts.kind == "translation":
        raise ConfigError("kind: data-parallel training (torchrun) supports GAN runs only, not translation runs")
    if parts.batch_size % size:
        raise ConfigError(f"train.batch_size: {parts.batch_size} must be divisible by the number of "
                          f"processes ({size}) in data-parallel training")
    pack = group_size(parts.D)
    if (parts.batch_size // size) % pack:
        raise ConfigError(f"train.batch_size: each of the {size} processes gets {parts.batch_size // size} samples, "
                          f"not a multiple of discriminator.pack ({pack}); use a batch of a multiple of {size * pack}")
    for module in (parts.G, parts.D, parts.prior):
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)
    parts.shard = (rank, size)
    for opt in (parts.opt_g, parts.opt_d):
        params = [p for group in opt.param_groups for p in group["params"]]
        opt.register_step_pre_hook(lambda _opt, _args, _kwargs, params=params: _average_gradients(params, size))
