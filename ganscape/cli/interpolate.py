"""``ganscape interpolate``: a grid whose rows walk through latent space between two random latents."""
from __future__ import annotations

from ganscape.cli.common import add_attribute_option, add_run_options, class_or_attributes, grid_size, seed
from ganscape.registry import ConfigError


def register(sub) -> None:
    p = sub.add_parser("interpolate", help="latent interpolation grid (linear or slerp)")
    add_run_options(p, out="output PNG")
    p.add_argument("--rows", type=int, default=4, help="number of interpolation paths")
    p.add_argument("--steps", type=int, default=8, help="images per path, end points included")
    p.add_argument("--mode", default="auto", choices=("auto", "slerp", "linear"),
                   help="path between the two latents (auto: slerp for a Gaussian prior, linear for any other)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the end latents")
    p.add_argument("--class", dest="label", type=int, default=None, metavar="K",
                   help="class for every row (conditional generators; default: row i uses class i)")
    add_attribute_option(p)
    p.add_argument("--truncation", type=float, default=None, metavar="PSI", help="StyleGAN truncation psi")
    p.set_defaults(func=run)


def run(args) -> int:
    from ganscape.analysis import interpolation_grid, truncation
    from ganscape.analysis.interpolation import path_mode
    from ganscape.loading import load_generator
    from ganscape.utils.images import save_grid

    grid_size(args.rows * args.steps, "--rows x --steps")
    gen = load_generator(args.run_dir, args.checkpoint, not args.no_ema, args.device, "interpolate")
    if len(gen.data_meta["shape"]) != 3:
        raise ConfigError("interpolate: needs an image generator; for 2-D data use `ganscape sample`")
    mode = path_mode(gen, args.mode)
    with truncation(gen.G, args.truncation):
        images = interpolation_grid(gen, args.rows, args.steps, mode, args.seed, class_or_attributes(args))
    save_grid(images, args.out, nrow=args.steps)
    print(f"wrote {args.out} ({args.rows} x {args.steps} {mode} interpolation, step {gen.step})")
    return 0
