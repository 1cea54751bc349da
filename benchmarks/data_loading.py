"""What reading a prepared CIFAR-size dataset costs a training step.

Builds a CIFAR-10 binary archive in the official layout holding 50,000 + 10,000 random images (or uses a real
``cifar-10-binary.tar.gz``/``cifar-10-python.tar.gz`` given with ``--from``), prepares it with ``ganscape data
prepare``'s code, then times (a) fetching one batch of the prepared 50,000 x 32 x 32 x 3 array as training does
(``BatchStream.next``: gather, uint8 -> float, labels) and (b) one full training step of the ``sndcgan-cifar10`` preset
at the same batch size, and prints the ratio. The issue's target: reading costs < 5% of a step.

    python benchmarks/data_loading.py [--from cifar-10-python.tar.gz] [--device cuda]
"""
from __future__ import annotations

import argparse
import io
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import machine_line


def synthetic_archive(path: Path, train: int = 50_000, test: int = 10_000) -> Path:
    """cifar-10-batches-bin/ with five training batches and a test batch of random images (uncompressed tar)."""
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, n in [(f"data_batch_{i}.bin", train // 5) for i in range(1, 6)] + [("test_batch.bin", test)]:
            records = rng.integers(0, 256, (n, 3073), dtype=np.uint8)
            records[:, 0] %= 10
            add(name, records.tobytes())
        add("batches.meta.txt", "\n".join(f"class{i}" for i in range(10)).encode())
    return path


def per_call(fn, repeats: int, sync) -> float:
    fn(), sync()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    from ganscape.data import BatchStream, build_dataset
    from ganscape.data.prepare import prepare
    from ganscape.training import Trainer

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="source", default=None, help="a real CIFAR-10 archive (default: synthetic)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=10, help="training steps timed")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(machine_line(args.device))
    sync = (lambda: torch.cuda.synchronize()) if device.type == "cuda" else (lambda: None)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        source = Path(args.source) if args.source else synthetic_archive(Path(tmp) / "cifar-10-binary.tar")
        start = time.perf_counter()
        prepare("cifar10", source, root)
        print(f"prepare: {time.perf_counter() - start:.1f} s for {source.name}")
        dataset = build_dataset({"name": "cifar10", "root": str(root)})
        start = time.perf_counter()
        dataset.to_device(device, 2 << 30) if device.type != "cpu" else dataset.loaded()
        print(f"load {len(dataset)} x {tuple(dataset.shape)} into memory: {time.perf_counter() - start:.2f} s")
        stream = BatchStream(dataset, args.batch, seed=0)
        read = per_call(lambda: stream.next(), 500, sync)
        trainer = Trainer({"base": "sndcgan-cifar10", "device": args.device,
                           "data": {"name": "cifar10", "root": str(root)},
                           "train": {"batch_size": args.batch, "log_every": 10_000}})
        step = per_call(lambda: trainer.fit(steps=1), args.steps, sync)
    print(f"read one batch of {args.batch}: {read * 1e3:.3f} ms;  sndcgan-cifar10 training step: {step * 1e3:.1f} ms")
    print(f"reading costs {100 * read / step:.2f}% of a step (target < 5%)")


if __name__ == "__main__":
    main()
