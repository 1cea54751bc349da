"""The training loop: build a run from its config, resume if possible, step, log, checkpoint.

Run folder layout::

    RUN_DIR/config.yaml            fully resolved config
    RUN_DIR/metrics.jsonl          one JSON object per logged step
    RUN_DIR/checkpoints/ckpt-NNNNNNNN.pt
    RUN_DIR/samples/step-NNNNNNNN.png
    RUN_DIR/loss_curves.png        written at the end
    RUN_DIR/tb/                    TensorBoard events (when tensorboard is installed)
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import yaml

from ganscape.config import RESUMABLE_CHANGES, config_diff, dump_yaml, validate
from ganscape.registry import ConfigError
from ganscape.training.checkpoint import list_checkpoints, load_state, restore, save_checkpoint
from ganscape.training.logger import RunLogger, plot_losses, scalars
from ganscape.training.run import GANRun, build_run
from ganscape.training.schemes import build_scheme
from ganscape.utils.images import save_samples
from ganscape.utils.io import atomic_write_text

log = logging.getLogger(__name__)
GRID_SIZE = 64


class DivergenceError(RuntimeError):
    """A loss became NaN or infinite; the run stopped and kept its last good checkpoint."""


def prepare_run_dir(config: dict[str, Any], run_dir: Path) -> None:
    """Write ``config.yaml``, or check it matches the config of the run being resumed."""
    path = run_dir / "config.yaml"
    if path.exists():
        old = yaml.safe_load(path.read_text())
        changed = [k for k in config_diff(old, config) if k not in RESUMABLE_CHANGES]
        if changed:
            details = "; ".join(f"{k}: {_lookup(old, k)!r} -> {_lookup(config, k)!r}" for k in changed)
            raise ConfigError(f"{run_dir} holds a run with a different config ({details}). "
                              f"Use a new --out folder, or the same config to resume "
                              f"(only {', '.join(RESUMABLE_CHANGES)} may change).")
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, dump_yaml(config))


def _lookup(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def fixed_latents(run: GANRun, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Latents for sample grids, drawn from their own seed; the training RNG is untouched."""
    devices = [run.device] if run.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(run.config["seed"] + 12345)
        z = run.prior.sample(n, run.device)
    y = torch.arange(n, device=run.device) % run.dataset.num_classes if run.conditional else None
    return z, y


@torch.no_grad()
def generate(G: torch.nn.Module, z: torch.Tensor, y: torch.Tensor | None, batch: int = 256) -> torch.Tensor:
    """Run G in eval mode on latents (and labels), in chunks; restores G's mode."""
    was_training = G.training
    G.eval()
    try:
        chunks = [G(z[i:i + batch], None if y is None else y[i:i + batch]) for i in range(0, len(z), batch)]
    finally:
        G.train(was_training)
    return torch.cat(chunks)


def write_samples(run: GANRun, run_dir: Path, step: int, latents) -> None:
    n = 2000 if not run.dataset.is_image else GRID_SIZE
    samples = generate(run.sampling_generator(), latents[0][:n], None if latents[1] is None else latents[1][:n])
    save_samples(samples, run_dir / "samples" / f"step-{step:08d}.png", run.dataset.info, title=f"step {step}")


def check_finite(finite: torch.Tensor, last_values: dict[str, float], step: int, run_dir: Path) -> None:
    if bool(finite):
        return
    ckpts = list_checkpoints(run_dir)
    kept = f"the last good checkpoint is step {max(ckpts)} ({ckpts[max(ckpts)]})" if ckpts else "no checkpoint was written yet"
    raise DivergenceError(
        f"training diverged: a loss became NaN/inf at or before step {step} "
        f"(last values: {last_values}); {kept}. Lower the learning rates, add a penalty "
        "(penalty.name=wgan_gp) or spectral norm (discriminator.norm=spectral).")


def train(config: dict[str, Any], run_dir: str | Path, show_progress: bool = True,
          stop_at: int | None = None) -> GANRun:
    """Train (or resume) the run in ``run_dir``. ``stop_at`` ends early after that step's
    work, as an interruption would (used by tests); returns the run's parts."""
    validate(config)
    run_dir = Path(run_dir)
    from ganscape.distributed import SilentLogger, barrier, init_from_env, is_main_process, shard_run
    distributed = init_from_env()  # torchrun: one rank of a data-parallel run
    main = is_main_process()
    if main:
        prepare_run_dir(config, run_dir)
    barrier()
    run = build_run(config)
    if distributed:
        shard_run(run)
    scheme = build_scheme(config["scheme"])
    start = 0
    checkpoints = list_checkpoints(run_dir)
    if checkpoints:
        start = restore(run, scheme, load_state(checkpoints[max(checkpoints)], run.device))
        log.info("resuming %s from step %d", run_dir, start)
    tcfg = config["train"]
    steps = tcfg["steps"]
    logger = RunLogger(run_dir, start, steps, show_progress) if main else SilentLogger()
    latents = fixed_latents(run, 2000 if not run.dataset.is_image else GRID_SIZE)
    finite = torch.ones((), dtype=torch.bool, device=run.device)
    values: dict[str, float] = {}
    try:
        for step in range(start + 1, steps + 1):
            last = step == steps or step == stop_at
            log_now = last or step % tcfg["log_every"] == 0
            out = scheme.step(run, log_now)
            finite &= torch.isfinite(out["loss_d"]) & torch.isfinite(out["loss_g"])
            if log_now:
                values = scalars(out)
                check_finite(finite, values, step, run_dir)
                logger.log(step, values)
            if last or (tcfg["checkpoint_every"] and step % tcfg["checkpoint_every"] == 0):
                check_finite(finite, values, step, run_dir)
                if main:
                    save_checkpoint(run, scheme, step, run_dir, tcfg["keep_checkpoints"])
            every = config.get("eval", {}).get("every", 0)
            if every and (last or step % every == 0):
                from ganscape.metrics.evaluate import evaluate_training
                logger.log(step, evaluate_training(run, step))
            if main and (last or (tcfg["sample_every"] and step % tcfg["sample_every"] == 0)):
                write_samples(run, run_dir, step, latents)
            logger.advance()
            if step == stop_at:
                break
    finally:
        logger.close()
    barrier()
    if main:
        plot_losses(run_dir)
    return run
