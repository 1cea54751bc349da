"""``ganscape sample RUN_DIR --out OUT``: samples of any run (a translation run's are translated images), as a grid
(``grid.png``) or scatter plot, or as files other tools read: ``samples.npz`` (uint8 N x H x W x C) or ``DIR/`` (one
PNG per sample), streamed in batches."""
from __future__ import annotations

import itertools
from pathlib import Path

from ganscape.cli.common import (add_attribute_option, add_run_options, argument_type, class_or_attributes, grid_size,
                                 positive, seed)
from ganscape.registry import ConfigError
from ganscape.utils.sample_files import check_output


def register(sub) -> None:
    p = sub.add_parser("sample", help="write samples: a grid (.png), samples.npz, or a folder of PNGs (DIR/)")
    add_run_options(p, out="grid.png, samples.npz (uint8 N x H x W x C) or DIR/ (one PNG per sample)",
                    out_type=argument_type(check_output), direction=True)
    p.add_argument("--n", type=int, default=64, help="number of samples")
    p.add_argument("--seed", type=seed, default=0, help="seed of the latents and labels")
    p.add_argument("--batch", type=int, default=256, help="samples generated (and written) at a time")
    p.add_argument("--class", dest="label", type=int, default=None, metavar="K",
                   help="class id for a class-conditional generator (default: uniform random classes)")
    add_attribute_option(p)
    p.add_argument("--edit", default=None, metavar="FILE",
                   help="sample the generator with this edit applied (edit.json written by `ganscape repair`)")
    p.add_argument("--truncation", type=float, default=None, metavar="PSI",
                   help="truncation trick psi for StyleGAN-style generators (1 = off, e.g. 0.7)")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from ganscape.analysis.truncation import truncation
    from ganscape.loading import load_generator, load_sampler
    from ganscape.utils.images import save_samples
    from ganscape.utils.sample_files import output_kind, write_npz, write_png_folder

    positive(args.n, "--n")
    positive(args.batch, "--batch")
    labels = class_or_attributes(args)
    if args.truncation is not None and args.direction is not None:  # was silently ignored
        raise ConfigError(f"--direction: {args.direction} picks a translator, and translation runs take no "
                          "--truncation (a StyleGAN's); give one of them")
    if args.truncation is None:
        sampler = load_sampler(args.run_dir, args.checkpoint, not args.no_ema, args.device, args.direction)
    else:
        sampler = load_generator(args.run_dir, args.checkpoint, not args.no_ema, args.device, "--truncation")
    if args.edit is not None:
        from ganscape.dissection.intervene import apply_edit, read_edit

        apply_edit(sampler, read_edit(args.edit), args.edit)
    out, kind = Path(args.out), output_kind(args.out)
    if kind == "png" and len(sampler.data_meta["shape"]) == 3:  # 2-D points are one scatter plot
        grid_size(args.n, "--n")
    with truncation(sampler.G, args.truncation):  # psi None leaves G untouched
        chunks = sampler.stream(args.n, seed=args.seed, labels=labels, batch=args.batch)
        first = next(chunks)  # a label the run cannot take is refused here, before any file or folder is made
        chunks = itertools.chain([first], chunks)
        if kind == "npz":
            write_npz(chunks, args.n, tuple(sampler.data_meta["shape"]), out)
        elif kind == "png":
            save_samples(torch.cat(list(chunks)), out, sampler.data_meta["info"], title=f"step {sampler.step}")
        else:
            write_png_folder(chunks, args.n, out)
    print(f"wrote {args.out} ({args.n} samples, step {sampler.step})")
    return 0
