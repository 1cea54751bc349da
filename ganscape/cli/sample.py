"""``ganscape sample RUN_DIR [--checkpoint N] --n 64 [--class K] [--truncation PSI] --out grid.png``:
draw samples from a run (``--class`` for conditional generators, ``--truncation`` for
StyleGAN-style ones)."""
from __future__ import annotations

from ganscape.loading import load_generator
from ganscape.utils.images import save_samples


def register(sub) -> None:
    p = sub.add_parser("sample", help="write a sample grid (images) or scatter plot (2-D data)")
    p.add_argument("run_dir")
    p.add_argument("--checkpoint", type=int, default=None, metavar="STEP", help="checkpoint step (default: newest)")
    p.add_argument("--n", type=int, default=64, help="number of samples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-ema", action="store_true", help="use the raw G weights even when EMA weights exist")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--class", dest="label", type=int, default=None, metavar="K",
                   help="class id for a class-conditional generator (default: uniform random classes)")
    p.add_argument("--truncation", type=float, default=None, metavar="PSI",
                   help="truncation trick psi for StyleGAN-style generators (1 = off, e.g. 0.7)")
    p.add_argument("--out", required=True, help="output PNG")
    p.set_defaults(func=run)


def run(args) -> int:
    from ganscape.registry import ConfigError

    if args.n < 1:
        raise ConfigError(f"--n: must be >= 1, got {args.n}")
    from ganscape.analysis.truncation import truncation

    gen = load_generator(args.run_dir, args.checkpoint, ema=not args.no_ema, device=args.device)
    with truncation(gen.G, args.truncation):
        samples = gen.sample(args.n, seed=args.seed, labels=args.label)
    save_samples(samples, args.out, gen.data_meta["info"], title=f"step {gen.step}")
    print(f"wrote {args.out} ({args.n} samples, step {gen.step})")
    return 0
