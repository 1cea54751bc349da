"""Data-parallel training of one run over several processes: torch DistributedDataParallel under torchrun.

Launch with torchrun; every rank runs the same ``ganscape train`` command::

    torchrun --nproc_per_node 2 -m ganscape train CONFIG --out RUN_DIR

- ``train.batch_size`` is the *global* batch: each of the W ranks trains on ``batch_size / W`` samples per step
  (refused before training when it does not divide evenly, or not into whole PacGAN groups).
- Data: every epoch is one permutation of the dataset, the same on every rank; global batch k is its k-th slice and
  rank r reads the r-th part of it, so the ranks' shards are disjoint and together are the single-process batch.
- Latents and every other random draw come from the rank's own stream (``rank_seed``); the initial weights are the
  same everywhere (same seed, and DistributedDataParallel broadcasts rank 0's at wrapping).
- G and D are wrapped in DistributedDataParallel (``ganscape.training.wrappers``): gradients are averaged across ranks
  during backward. D is used in both steps; in the G step its parameters are frozen, so only G's gradients are
  reduced. Buffers (batch-norm statistics, spectral-norm vectors) are broadcast from rank 0 at each forward.
  A learnable prior's gradients are averaged by hooks (``average_gradients_of``).
- E-GAN's selection is computed once from fitness averaged over ranks and broadcast from rank 0, so every rank keeps
  the same offspring.
- Before training, the ranks compare their resolved config and resume step, and stop with one line if they differ
  (another command line, or another ``--out`` per node); a run folder that another process holds stops every rank.
- Logged losses and penalties are averaged over ranks on logging steps, so a row is the global batch's.
- Evaluation during training (``eval.every``) is shared: G first takes rank 0's batch-norm statistics (those its
  checkpoint holds), then each rank generates its share of the samples and runs the feature network on them; the
  features (and the reference features, when rank 0 has none cached) are joined in sample order on rank 0, which
  computes the values and sends them to every rank (``ganscape.metrics.evaluate``). An error on any rank's share
  (out of memory, say) is raised on every rank (``computed_on_every_rank``), not left for the others to wait on.
- ``train.check_ranks_every`` steps (and at the end) all ranks compare a fingerprint of their parameters and stop
  with one clear message if any differs (``consistency.RankSync``).
- Only rank 0 writes files (the run folder's callbacks run there alone); checkpoints hold every rank's random state,
  so a resumed run continues exactly. NCCL is used on GPUs, gloo on CPU.
- Every rank leaves the process group at the end; the ``ganscape`` program then ends it without the interpreter's
  teardown (``exit_rank``): the gloo group that DistributedDataParallel keeps alive can otherwise abort a finished
  run at exit. A script calling ``train`` under torchrun should end its ranks the same way."""
from ganscape.distributed.data_parallel import (all_ranks, average, barrier, computed_on_every_rank,
                                                computed_on_main, ddp_wrapper, decided_on_every_rank,
                                                decided_on_main, every_rank, exactly_float32, exit_rank, from_main,
                                                gathered_on_main, init_from_env, is_main_process, launched_as_ranks,
                                                launched_world_size, leave, local_batch_size, rank_seed, world)

__all__ = ["all_ranks", "average", "barrier", "computed_on_every_rank", "computed_on_main", "ddp_wrapper",
           "decided_on_every_rank", "decided_on_main", "every_rank", "exactly_float32", "exit_rank", "from_main",
           "gathered_on_main", "init_from_env", "is_main_process", "launched_as_ranks", "launched_world_size", "leave",
           "local_batch_size", "rank_seed", "world"]
