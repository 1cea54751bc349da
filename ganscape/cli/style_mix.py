"""``ganscape style-mix RUN_DIR --out f.png``: a StyleGAN style-mixing grid (row sources x column sources)."""
from __future__ import annotations

from ganscape.cli.common import add_run_options, grid_size, seed


def register(sub) -> None:
    p = sub.add_parser("style-mix", help="style-mixing grid of a StyleGAN-style generator")
    add_run_options(p, out="output PNG")
    p.add_argument("--rows", type=int, default=3, help="row sources (seed --seed-rows)")
    p.add_argument("--cols", type=int, default=4, help="column sources (seed --seed-cols)")
    p.add_argument("--seed-rows", type=seed, default=0, help="seed of the row sources")
    p.add_argument("--seed-cols", type=seed, default=1, help="seed of the column sources")
    p.add_argument("--cutoff", type=int, default=None, help="first layer of the fine band (default: half the layers)")
    p.add_argument("--band", default="coarse", choices=("coarse", "fine"),
                   help="which layers come from the column source")
    p.add_argument("--truncation", type=float, default=1.0, metavar="PSI", help="truncation psi (1 = off)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ganscape.analysis import style_mix_grid
    from ganscape.loading import load_generator
    from ganscape.utils.images import save_grid

    grid_size((args.rows + 1) * (args.cols + 1), "--rows x --cols")
    gen = load_generator(args.run_dir, args.checkpoint, not args.no_ema, args.device, "style-mix")
    images = style_mix_grid(gen, args.rows, args.cols, args.seed_rows, args.seed_cols, args.cutoff, args.band,
                            args.truncation)
    save_grid(images, args.out, nrow=args.cols + 1)
    print(f"wrote {args.out} ({args.rows} x {args.cols} style mix, {args.band} styles from the columns, step {gen.step})")
    return 0
