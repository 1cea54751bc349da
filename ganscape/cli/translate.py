"""``ganscape translate RUN_DIR --input DIR --out DIR``: translate image files, read as the image-folder dataset reads
them (converted to the model's channels, centre-cropped square, resized to its size), into PNGs of the same names in
a new or empty output folder. All images are read and checked before anything is written, and the folder appears
complete or not at all."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from ganscape.cli.common import add_run_options, argument_type
from ganscape.registry import ConfigError
from ganscape.utils.sample_files import check_new_folder, write_png_folder


def register(sub) -> None:
    p = sub.add_parser("translate", help="translate a folder of images with a trained translation run (CycleGAN)")
    add_run_options(p, out="new or empty folder for the translated PNGs", out_type=argument_type(check_new_folder),
                    direction=True)
    p.add_argument("--input", required=True, metavar="DIR", help="folder of images of the source domain")
    p.set_defaults(func=run)


def read_inputs(folder: Path, shape: tuple[int, ...]) -> tuple[list[Path], torch.Tensor]:
    """Image files of ``folder`` -> (paths, (N, C, S, S) in [-1, 1]); unreadable files are an error."""
    from ganscape.data.images import IMAGE_SUFFIXES, image_files, load_image

    if not folder.is_dir():
        raise ConfigError(f"--input: {folder} is not a folder")
    files = image_files(folder, recursive=False)  # macOS metadata left out, as the datasets leave it out
    if not files:
        raise ConfigError(f"--input: no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    stems = Counter(path.stem for path in files)
    clashes = sorted(path.name for path in files if stems[path.stem] > 1)
    if clashes:
        raise ConfigError(f"--input: {', '.join(clashes)} would all be written as the same PNG; rename all but one")
    try:
        return files, torch.stack([load_image(path, shape[1], shape[0]) for path in files])
    except ConfigError as err:
        raise ConfigError(f"--input: {err}") from None


def run(args) -> int:
    from ganscape.loading import load_sampler, require_translation

    if not args.input.strip():  # Path("") is the current folder: an unset variable in --input "$SRC"
        raise ConfigError("--input: an empty path; name the folder of source images")
    sampler = require_translation(load_sampler(args.run_dir, args.checkpoint, not args.no_ema, args.device,
                                               args.direction), "translate")
    files, x = read_inputs(Path(args.input), sampler.in_shape)
    target = Path(args.out)
    write_png_folder([sampler.translate(x)], len(files), target, [path.stem for path in files])
    print(f"translated {len(files)} images ({sampler.direction}, step {sampler.step}) into {target}")
    return 0
