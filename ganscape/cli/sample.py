"""``ganscape sample RUN_DIR --out grid.png``: samples of any run (a translation run's are translated images)."""
from __future__ import annotations

from ganscape.cli.common import add_run_options, positive


def register(sub) -> None:
    p = sub.add_parser("sample", help="write a sample grid (images) or scatter plot (2-D data)")
    add_run_options(p, out="output PNG", direction=True)
    p.add_argument("--n", type=int, default=64, help="number of samples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--class", dest="label", type=int, default=None, metavar="K",
                   help="class id for a class-conditional generator (default: uniform random classes)")
    p.add_argument("--truncation", type=float, default=None, metavar="PSI",
                   help="truncation trick psi for StyleGAN-style generators (1 = off, e.g. 0.7)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ganscape.analysis.truncation import truncation
    from ganscape.loading import load_generator, load_sampler
    from ganscape.utils.images import save_samples

    positive(args.n, "--n")
    if args.truncation is None:
        sampler = load_sampler(args.run_dir, args.checkpoint, not args.no_ema, args.device, args.direction)
    else:
        sampler = load_generator(args.run_dir, args.checkpoint, not args.no_ema, args.device, "--truncation")
    with truncation(sampler.G, args.truncation):  # psi None leaves G untouched
        samples = sampler.sample(args.n, seed=args.seed, labels=args.label)
    save_samples(samples, args.out, sampler.data_meta["info"], title=f"step {sampler.step}")
    print(f"wrote {args.out} ({args.n} samples, step {sampler.step})")
    return 0
