"""CycleGAN training: build a run from its config, resume, step, log, checkpoint.

Losses (Zhu et al. 2017, LSGAN form), with a, b real batches of the two domains:
  G:  mean (D_b(G_ab(a)) - 1)^2 + mean (D_a(G_ba(b)) - 1)^2
      + lambda_cycle * (|G_ba(G_ab(a)) - a|_1 + |G_ab(G_ba(b)) - b|_1)
      + lambda_cycle * lambda_identity * (|G_ab(b) - b|_1 + |G_ba(a) - a|_1)
  D_a: 0.5 * [mean (D_a(a) - 1)^2 + mean D_a(pool_a(G_ba(b)))^2]   (D_b likewise)
The two domains are drawn by independent samplers (seeds 2*seed and 2*seed + 1), so the
pairs are unpaired even when both datasets list the same images in the same order.

Run folder: the same layout as a GAN run (config.yaml, metrics.jsonl, checkpoints/ckpt-N.pt,
samples/step-N.png with rows a, G_ab(a), G_ba(G_ab(a)), b, G_ba(b), G_ab(G_ba(b))).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganscape.data import BatchStream, Dataset, build_dataset
from ganscape.registry import ConfigError
from ganscape.training.checkpoint import list_checkpoints, load_state, rng_state, set_rng_state, write_checkpoint
from ganscape.training.logger import RunLogger, plot_losses, scalars
from ganscape.training.run import resolve_device
from ganscape.training.trainer import DivergenceError, prepare_run_dir
from ganscape.translation.config import validate
from ganscape.translation.models import CRITICS, TRANSLATORS
from ganscape.translation.pool import ImagePool
from ganscape.utils.images import save_grid

log = logging.getLogger(__name__)
SAMPLE_COLUMNS = 8


@dataclass
class CycleRun:
    """The parts of a CycleGAN run (models in training mode)."""

    config: dict[str, Any]
    device: torch.device
    data_a: Dataset
    data_b: Dataset
    batches_a: BatchStream
    batches_b: BatchStream
    G_ab: nn.Module
    G_ba: nn.Module
    D_a: nn.Module
    D_b: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    pool_a: ImagePool
    pool_b: ImagePool


def image_shapes(data_a: Dataset, data_b: Dataset, lambda_identity: float) -> tuple[int, int, int]:
    """(C_a, C_b, S) of two image datasets of one square size, or a ConfigError."""
    for key, data in (("data_a", data_a), ("data_b", data_b)):
        if not data.is_image or data.shape[1] != data.shape[2]:
            raise ConfigError(f"{key}: CycleGAN needs square images, got samples of shape {data.shape}")
    if data_a.shape[1] != data_b.shape[1]:
        raise ConfigError(f"data_b.size: both domains must have one image size, got {data_a.shape[1]} and "
                          f"{data_b.shape[1]}")
    if lambda_identity > 0 and data_a.shape[0] != data_b.shape[0]:
        raise ConfigError(f"lambda_identity: the identity loss needs both domains to have the same channels "
                          f"({data_a.shape[0]} vs {data_b.shape[0]}); set lambda_identity=0")
    return data_a.shape[0], data_b.shape[0], data_a.shape[1]


def build_translators(config: dict[str, Any], c_a: int, c_b: int, size: int) -> tuple[nn.Module, nn.Module]:
    g_ab = TRANSLATORS.build(config["generator"], "generator", channels_in=c_a, channels_out=c_b, size=size)
    g_ba = TRANSLATORS.build(config["generator"], "generator", channels_in=c_b, channels_out=c_a, size=size)
    return g_ab, g_ba


def build_cycle_run(config: dict[str, Any]) -> CycleRun:
    """Build every part; raises ConfigError before any training happens."""
    device = resolve_device(config["device"])
    torch.manual_seed(config["seed"])
    data_a, data_b = build_dataset(config["data_a"], "data_a"), build_dataset(config["data_b"], "data_b")
    c_a, c_b, size = image_shapes(data_a, data_b, config["lambda_identity"])
    batch = config["train"]["batch_size"]
    if batch > min(len(data_a), len(data_b)):
        raise ConfigError(f"train.batch_size: {batch} is larger than a dataset ({len(data_a)}, {len(data_b)} samples)")
    g_ab, g_ba = (g.to(device) for g in build_translators(config, c_a, c_b, size))
    d_a = CRITICS.build(config["discriminator"], "discriminator", channels=c_a, size=size).to(device)
    d_b = CRITICS.build(config["discriminator"], "discriminator", channels=c_b, size=size).to(device)
    optim = config["optim"]
    opt_g = torch.optim.Adam(list(g_ab.parameters()) + list(g_ba.parameters()), lr=optim["lr"], betas=tuple(optim["betas"]))
    opt_d = torch.optim.Adam(list(d_a.parameters()) + list(d_b.parameters()), lr=optim["lr"], betas=tuple(optim["betas"]))
    seed = config["seed"]
    return CycleRun(config, device, data_a, data_b, BatchStream(data_a, batch, 2 * seed),
                    BatchStream(data_b, batch, 2 * seed + 1), g_ab, g_ba, d_a, d_b, opt_g, opt_d,
                    ImagePool(config["pool_size"]), ImagePool(config["pool_size"]))


def lsgan(scores: torch.Tensor, target: float) -> torch.Tensor:
    return ((scores - target) ** 2).mean()


def cycle_step(run: CycleRun) -> dict[str, torch.Tensor]:
    """One G update (both directions) then one D update (both critics); detached losses."""
    a = run.batches_a.next()[0].to(run.device)
    b = run.batches_b.next()[0].to(run.device)
    lam_c, lam_i = run.config["lambda_cycle"], run.config["lambda_identity"]
    run.D_a.requires_grad_(False)
    run.D_b.requires_grad_(False)
    fake_b, fake_a = run.G_ab(a), run.G_ba(b)
    adv = lsgan(run.D_b(fake_b), 1.0) + lsgan(run.D_a(fake_a), 1.0)
    cycle = F.l1_loss(run.G_ba(fake_b), a) + F.l1_loss(run.G_ab(fake_a), b)
    total = adv + lam_c * cycle
    out = {"loss_g": adv.detach(), "loss_cycle": cycle.detach()}
    if lam_i > 0:
        identity = F.l1_loss(run.G_ab(b), b) + F.l1_loss(run.G_ba(a), a)
        total = total + lam_c * lam_i * identity
        out["loss_identity"] = identity.detach()
    run.opt_g.zero_grad(set_to_none=True)
    total.backward()
    run.opt_g.step()
    run.D_a.requires_grad_(True)
    run.D_b.requires_grad_(True)
    pool_a, pool_b = run.pool_a.query(fake_a.detach()), run.pool_b.query(fake_b.detach())
    loss_d = (0.5 * (lsgan(run.D_a(a), 1.0) + lsgan(run.D_a(pool_a), 0.0))
              + 0.5 * (lsgan(run.D_b(b), 1.0) + lsgan(run.D_b(pool_b), 0.0)))
    run.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    run.opt_d.step()
    out["loss_d"] = loss_d.detach()
    return out


def save_cycle_checkpoint(run: CycleRun, step: int, run_dir: Path, keep: int = 0) -> Path:
    """Atomically write everything needed to continue bit-exactly (and to translate)."""
    state = {
        "step": step,
        **{name: getattr(run, name).state_dict() for name in ("G_ab", "G_ba", "D_a", "D_b", "opt_g", "opt_d")},
        "pool_a": run.pool_a.state_dict(), "pool_b": run.pool_b.state_dict(),
        "positions": [run.batches_a.position, run.batches_b.position],
        "rng": rng_state(),
        "shapes": [list(run.data_a.shape), list(run.data_b.shape)],
    }
    return write_checkpoint(state, run_dir, step, keep)


def restore_cycle(run: CycleRun, state: dict[str, Any]) -> int:
    for name in ("G_ab", "G_ba", "D_a", "D_b", "opt_g", "opt_d"):
        getattr(run, name).load_state_dict(state[name])
    run.pool_a.load_state_dict(state["pool_a"])
    run.pool_b.load_state_dict(state["pool_b"])
    run.batches_a.position, run.batches_b.position = state["positions"]
    set_rng_state(state["rng"])
    return state["step"]


def as_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    return x.expand(-1, channels, -1, -1) if x.shape[1] == 1 and channels > 1 else x


@torch.no_grad()
def write_cycle_samples(run: CycleRun, run_dir: Path, step: int) -> None:
    n = SAMPLE_COLUMNS
    a = run.data_a.get(torch.arange(min(n, len(run.data_a))))[0].to(run.device)
    b = run.data_b.get(torch.arange(min(n, len(run.data_b))))[0].to(run.device)
    rows = [a, run.G_ab(a), run.G_ba(run.G_ab(a)), b, run.G_ba(b), run.G_ab(run.G_ba(b))]
    channels = max(r.shape[1] for r in rows)
    save_grid(torch.cat([as_channels(r, channels) for r in rows]), run_dir / "samples" / f"step-{step:08d}.png",
              nrow=len(a))


def train_translation(config: dict[str, Any], run_dir: str | Path, show_progress: bool = True,
                      stop_at: int | None = None) -> CycleRun:
    """Train (or resume) the CycleGAN run in ``run_dir``; ``stop_at`` stops early as an interruption."""
    validate(config)
    run_dir = Path(run_dir)
    prepare_run_dir(config, run_dir)
    run = build_cycle_run(config)
    start, checkpoints = 0, list_checkpoints(run_dir)
    if checkpoints:
        start = restore_cycle(run, load_state(checkpoints[max(checkpoints)], run.device))
        log.info("resuming %s from step %d", run_dir, start)
    tcfg = config["train"]
    logger = RunLogger(run_dir, start, tcfg["steps"], show_progress)
    try:
        for step in range(start + 1, tcfg["steps"] + 1):
            last = step == tcfg["steps"] or step == stop_at
            out = cycle_step(run)
            if last or step % tcfg["log_every"] == 0:
                values = scalars(out)
                if not all(map(torch.isfinite, out.values())):
                    raise DivergenceError(f"CycleGAN training diverged at step {step} (losses {values}); "
                                          "lower optim.lr")
                logger.log(step, values)
            if last or (tcfg["checkpoint_every"] and step % tcfg["checkpoint_every"] == 0):
                save_cycle_checkpoint(run, step, run_dir, tcfg["keep_checkpoints"])
            if last or (tcfg["sample_every"] and step % tcfg["sample_every"] == 0):
                write_cycle_samples(run, run_dir, step)
            logger.advance()
            if step == stop_at:
                break
    finally:
        logger.close()
    plot_losses(run_dir)
    return run
