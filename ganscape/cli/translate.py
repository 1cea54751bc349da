"""``ganscape translate RUN_DIR --input DIR --out DIR [--direction a2b|b2a]``: translate image files.

Every PNG/JPEG/BMP in the input folder is read, converted to the model's channels and size,
translated, and written to the output folder as PNG under the same name.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganscape.registry import ConfigError
from ganscape.utils.images import save_image, to_uint8

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def register(sub) -> None:
    p = sub.add_parser("translate", help="translate a folder of images with a trained CycleGAN")
    p.add_argument("run_dir")
    p.add_argument("--input", required=True, metavar="DIR", help="folder of images of the source domain")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the translated PNGs")
    p.add_argument("--direction", default="a2b", choices=("a2b", "b2a"), help="data_a -> data_b or back")
    p.add_argument("--checkpoint", type=int, default=None, metavar="STEP", help="checkpoint step (default: newest)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.set_defaults(func=run)


def read_image(path: Path, shape: tuple[int, int, int]) -> torch.Tensor:
    """An image file -> (C, S, S) float tensor in [-1, 1] with the model's channels and size."""
    channels, size = shape[0], shape[1]
    img = Image.open(path).convert("L" if channels == 1 else "RGB").resize((size, size), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 127.5 - 1.0
    x = torch.from_numpy(arr)
    return x[None] if channels == 1 else x.permute(2, 0, 1)


def run(args) -> int:
    from ganscape.translation.loading import load_translator

    source = Path(args.input)
    if not source.is_dir():
        raise ConfigError(f"--input: {args.input} is not a folder")
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in SUFFIXES)
    if not files:
        raise ConfigError(f"--input: no images ({', '.join(SUFFIXES)}) in {args.input}")
    model = load_translator(args.run_dir, args.direction, args.checkpoint, args.device)
    out = model(torch.stack([read_image(p, model.in_shape) for p in files]))
    target = Path(args.out)
    target.mkdir(parents=True, exist_ok=True)
    for path, image in zip(files, out):
        save_image(to_uint8(image[None])[0], target / f"{path.stem}.png")
    print(f"translated {len(files)} images ({args.direction}, step {model.step}) into {target}")
    return 0
