"""Training images/s: a plain hand-written PyTorch loop versus `ganscape train`, per model and speed setting.

For each model (dcgan, sndcgan, resnet_cifar at 32 px; dcgan at 64 px) both sides train the same networks (built
by ganscape's factories from one config), on the same data tensor (the bundled digits, upscaled: no download), with
the same batch, Adam settings and non-saturating loss, in one process:

    fp32          float32, NCHW, eager (ganscape's automatic setting on every device)
    amp           mixed precision (bf16 where supported, else fp16 with loss scaling), NCHW
    cl            float32, channels_last (NHWC)
    amp+cl        both
    comp          float32, NCHW, torch.compile of G and D
    amp+comp      mixed precision + torch.compile
    amp+cl+comp   mixed precision + channels_last + torch.compile (CPU only: ganscape refuses compile with
                  channels_last on a GPU, where PyTorch's inductor stops on it, pytorch/pytorch#197517)

The plain loop is the reference DCGAN loop (pytorch/examples), written out by hand. The ganscape side is a full
`train` run into a temporary run folder, timed from the end of the warm-up steps to the end of the last step's update
(before that step's callbacks and the final checkpoint): start-up and compilation are not counted, the per-step
bookkeeping is (the divergence guard's fold, callbacks), logging every 100 steps and EMA (off) mostly not. Every
figure is also printed as a ratio to the plain fp32 loop of the same model.

    python benchmarks/train_throughput.py                       # every model and variant, on the GPU when present
    python benchmarks/train_throughput.py --device cpu --models dcgan32 --steps 20
"""
from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ganscape.config import load_config
from ganscape.data import build_dataset
from ganscape.models import build_discriminator, build_generator
from ganscape.registry import ConfigError
from ganscape.runtime import resolve_device
from ganscape.training import build_parts, train
from ganscape.training.callbacks.base import Callback
from ganscape.training.wrappers import check_compile_layout

from common import machine_line

MODELS = {
    "dcgan32": (32, ["generator.name=dcgan", "generator.ngf=64", "discriminator.name=dcgan",
                     "discriminator.ndf=64", "prior.dim=100"]),
    "sndcgan32": (32, ["generator.name=sndcgan", "discriminator.name=sndcgan", "discriminator.norm=spectral",
                       "prior.dim=128"]),
    "resnet32": (32, ["generator.name=resnet_cifar", "discriminator.name=resnet_cifar", "discriminator.norm=spectral",
                      "prior.dim=128"]),
    "dcgan64": (64, ["generator.name=dcgan", "generator.ngf=64", "discriminator.name=dcgan",
                     "discriminator.ndf=64", "prior.dim=100"]),
}
# variant -> (mixed precision, channels_last, torch.compile)
VARIANTS = {"fp32": (False, False, False), "amp": (True, False, False), "cl": (False, True, False),
            "amp+cl": (True, True, False), "comp": (False, False, True), "amp+comp": (True, False, True),
            "amp+cl+comp": (True, True, True)}


def runnable(variant: str, device: torch.device) -> bool:
    """Whether ganscape trains ``variant`` on ``device`` (it refuses compile with channels_last on a GPU)."""
    _, channels_last, compiled = VARIANTS[variant]
    try:
        check_compile_layout(compiled, channels_last, device.type)
    except ConfigError:
        return False
    return True


def amp_precision(device: torch.device) -> str:
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16"


def settings(variant: str, device: torch.device) -> dict:
    """precision, channels_last, compile of a variant."""
    mixed, channels_last, compiled = VARIANTS[variant]
    return {"precision": amp_precision(device) if mixed else "fp32", "channels_last": channels_last,
            "compile": "default" if compiled else False}


def model_config(model: str, batch: int, steps: int, device: str, variant_settings: dict) -> dict:
    size, overrides = MODELS[model]
    train_keys = [f"train.{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in variant_settings.items()]
    return load_config("dcgan-digits", [f"data.size={size}", *overrides, "loss.name=nonsaturating",
                                        f"train.batch_size={batch}", f"train.steps={steps}", "train.ema_decay=0.0",
                                        "train.log_every=100", "train.checkpoint_every=0", "train.sample_every=0",
                                        f"device={device}", *train_keys])


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Stopwatch(Callback):
    """Time from the end of step ``warmup`` to the end of the last step (before the final checkpoint)."""

    order = -1

    def __init__(self, warmup: int, device: torch.device):
        self.warmup, self.device, self.start, self.seconds = warmup, device, 0.0, 0.0

    def on_step_end(self, trainer, step, out, logged, last) -> None:
        if step == self.warmup or last:
            synchronize(self.device)
            if step == self.warmup:
                self.start = time.perf_counter()
            else:
                self.seconds = time.perf_counter() - self.start


def time_ganscape(config: dict, warmup: int, device: torch.device) -> float:
    """Seconds of the steps after ``warmup`` in a ganscape run."""
    watch = Stopwatch(warmup, device)
    with tempfile.TemporaryDirectory() as tmp:
        train(config, Path(tmp) / "run", show_progress=False, callbacks=[watch])
    return watch.seconds


def time_plain(config: dict, warmup: int, device: torch.device, variant_settings: dict) -> float:
    """Seconds of the steps after ``warmup`` of the reference loop, on the same networks and data."""
    torch.manual_seed(0)
    data = build_dataset(config["data"]).x.to(device)
    shape, batch, z_dim = tuple(data.shape[1:]), config["train"]["batch_size"], config["prior"]["dim"]
    G = build_generator(config["generator"], shape, z_dim).to(device)
    D = build_discriminator(config["discriminator"], shape).to(device)
    optG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    precision, channels_last = variant_settings["precision"], variant_settings["channels_last"]
    if channels_last:
        G, D, data = (t.to(memory_format=torch.channels_last) for t in (G, D, data))
    netG, netD = G, D
    if variant_settings["compile"]:
        netG, netD = torch.compile(G), torch.compile(D)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else contextlib.nullcontext
    scaler_g, scaler_d = (torch.amp.GradScaler(device.type, enabled=precision == "fp16") for _ in range(2))
    ones, zeros = torch.ones(batch, device=device), torch.zeros(batch, device=device)
    steps, start = config["train"]["steps"], 0.0
    for step in range(1, steps + 1):
        real = data[torch.randint(len(data), (batch,), device=device)]
        with autocast():
            fake = netG(torch.randn(batch, z_dim, device=device))
            loss_d = (F.binary_cross_entropy_with_logits(netD(real).float(), ones)
                      + F.binary_cross_entropy_with_logits(netD(fake.detach()).float(), zeros))
        optD.zero_grad(set_to_none=True)
        scaler_d.scale(loss_d).backward()
        scaler_d.step(optD)
        scaler_d.update()
        with autocast():
            loss_g = F.binary_cross_entropy_with_logits(netD(fake).float(), ones)
        optG.zero_grad(set_to_none=True)
        scaler_g.scale(loss_g).backward()
        scaler_g.step(optG)
        scaler_g.update()
        if step % 100 == 0:
            loss_d.item(), loss_g.item()
        if step == warmup:
            synchronize(device)
            start = time.perf_counter()
    synchronize(device)
    return time.perf_counter() - start


def measure(model: str, variant: str, args, device: torch.device) -> dict[str, float]:
    """images/s of both sides for one model and variant."""
    chosen = settings(variant, device)
    config = model_config(model, args.batch, args.warmup + args.steps, device.type, chosen)
    images = args.steps * args.batch
    torch._dynamo.reset()  # each side compiles from scratch (one process reuses the models' code objects)
    plain = images / time_plain(config, args.warmup, device, chosen)
    torch._dynamo.reset()
    ours = images / time_ganscape(config, args.warmup, device)
    return {"plain": plain, "ganscape": ours}


def parameters_m(model: str) -> float:
    parts = build_parts(model_config(model, 64, 1, "cpu", settings("fp32", torch.device("cpu"))))
    return sum(p.numel() for m in (parts.G, parts.D) for p in m.parameters()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto (the GPU when present), cpu or cuda")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated: {', '.join(MODELS)}")
    parser.add_argument("--variants", help=f"comma-separated: {', '.join(VARIANTS)} (default: all the device can "
                        "run)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 200 on a GPU, 20 on CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 30 GPU, 5 CPU)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(machine_line(str(device)))
    args.steps = args.steps or (200 if device.type == "cuda" else 20)
    args.warmup = args.warmup or (30 if device.type == "cuda" else 5)
    models = args.models.split(",")
    variants = args.variants.split(",") if args.variants else [v for v in VARIANTS if runnable(v, device)]
    for name, valid in ((models, MODELS), (variants, VARIANTS)):
        bad = [n for n in name if n not in valid]
        if bad:
            parser.error(f"unknown {bad[0]!r}; valid: {', '.join(valid)}")
    refused = [v for v in variants if not runnable(v, device)]
    if refused:
        parser.error(f"--variants: {refused[0]!r} (compile with channels_last) is refused on {device.type}; valid "
                     f"there: {', '.join(v for v in VARIANTS if runnable(v, device))}")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"device: {where}; batch {args.batch}; {args.warmup} warm-up + {args.steps} timed steps; "
          f"amp = {amp_precision(device)}; torch {torch.__version__}")
    print(f"{'model':10s} {'params':>7s} {'variant':12s} {'plain img/s':>12s} {'ganscape img/s':>15s} "
          f"{'plain/plain-fp32':>17s} {'ganscape/plain-fp32':>20s} {'ganscape/plain':>15s}", flush=True)
    for model in models:
        base = None
        for variant in variants:
            rates = measure(model, variant, args, device)
            base = base or (rates["plain"] if variant == "fp32" else None)
            ref = base or rates["plain"]
            print(f"{model:10s} {parameters_m(model):6.1f}M {variant:12s} {rates['plain']:12.1f} {rates['ganscape']:15.1f} "
                  f"{rates['plain'] / ref:17.3f} {rates['ganscape'] / ref:20.3f} "
                  f"{rates['ganscape'] / rates['plain']:15.3f}", flush=True)


if __name__ == "__main__":
    main()
