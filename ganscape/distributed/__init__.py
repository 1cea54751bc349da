"""Data-parallel training of one run over several processes (torch.distributed).

Launch with torchrun; every rank runs the same ``ganscape train`` command::

    torchrun --nproc_per_node 2 -m ganscape train CONFIG --out RUN_DIR

``train.batch_size`` is the *global* batch. Every rank draws the same global real batch and latents (same seed,
same RNG stream) and keeps its own slice of ``batch_size / world`` rows; before each optimiser step the gradients
are averaged over ranks (all-reduce), as DistributedDataParallel does. For objectives that are means over
independent samples and networks without batch statistics, a W-rank run therefore equals a single-process run with
the same global batch up to float rounding. Batch norm (per-rank statistics), relativistic-average losses (batch
means) and penalties drawing their own random numbers give statistically equivalent but not identical runs. Only
rank 0 writes files (the run folder's callbacks run there alone). NCCL is used on GPUs, gloo on CPU."""
from ganscape.distributed.data_parallel import barrier, init_from_env, is_main_process, leave, shard_parts, world

__all__ = ["barrier", "init_from_env", "is_main_process", "leave", "shard_parts", "world"]
