"""``ganscape intervene RUN --layer NAME --concept C --units top:20 --mode ablate|insert --out DIR``: the average
causal effect of switching units off or on, with before/after images; ``--curve`` for top-k against random-k."""
from __future__ import annotations

from ganscape.cli.common import (add_dissection_options, drawn_from, open_generator, open_segmenter, output_folder,
                                 positive)
from ganscape.registry import ConfigError


def parse_region(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--region: expected x0,y0,x1,y1 in [0, 1], got {text!r}") from None


def register(sub) -> None:
    p = sub.add_parser("intervene", help="ablate or insert units and measure the effect on a concept")
    add_dissection_options(p)
    p.add_argument("--concept", required=True, help="a concept of the segmenter, e.g. tree")
    p.add_argument("--units", default="top:20", help="top:K (by IoU with the concept), random:K, or 3,17,40")
    p.add_argument("--mode", default="ablate", choices=("ablate", "insert"),
                   help="ablate: units set to 0; insert: set to their typical activation where the concept is")
    p.add_argument("--region", default=None, metavar="x0,y0,x1,y1", help="edit only inside this box (image fractions)")
    p.add_argument("--n", type=int, default=500, help="latents the effect is averaged over")
    p.add_argument("--rank-n", type=int, default=500, help="samples of the dissection that ranks units for top:K")
    p.add_argument("--curve", action="store_true", help="also the effect of k = 1, 2, 4, ..., 64 top vs random units")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for intervene.json and before_after.png")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from ganscape.dissection.dissect import resolve_layers
    from ganscape.dissection.intervene import (causal_effect, check_choice, check_region, choose_units,
                                               concept_activation, effect_curve, layer_region, parse_units,
                                               rank_for_concept)
    from ganscape.dissection.plots import before_after, curve_plot
    from ganscape.utils.io import atomic_write_text

    files = ["intervene.json", "before_after.png"] + (["curve.json", "curve.png"] if args.curve else [])
    out = output_folder(args.out, *files)
    positive(args.n, "--n", 2)
    positive(args.rank_n, "--rank-n")
    region = parse_region(args.region)
    if region is not None:
        check_region(region)
    parse_units(args.units)  # the spelling, before the generator is opened
    if len(args.layer) != 1:
        raise ConfigError("--layer: intervene edits one layer; give --layer NAME once (`ganscape dissect RUN "
                          "--list-layers` lists them)")
    sampler = open_generator(args)
    layer = resolve_layers(sampler, args.layer)[0]
    layer_region(region, layer)
    check_choice(args.units, layer)  # units out of range, top:K over its units: refused before the segmenter is built
    segmenter = open_segmenter(args, sampler)
    segmenter.concept_id(args.concept)
    needs_ranking = args.units.startswith("top:") or args.curve
    labels = args.label
    ranking = (rank_for_concept(sampler, layer, args.concept, segmenter, args.rank_n, args.seed, labels=labels)
               if needs_ranking else None)
    units = choose_units(args.units, layer, ranking, args.seed)
    values = (concept_activation(sampler, layer, segmenter, args.concept, seed=args.seed, labels=labels)
              if args.mode == "insert" else None)
    effect = causal_effect(sampler, layer, units, args.concept, segmenter, args.mode, args.n, args.seed, region, values,
                           labels)
    effect.update({**drawn_from(args, sampler), "segmenter": segmenter.tag})
    atomic_write_text(out / "intervene.json", json.dumps(effect, indent=1))
    before_after(sampler, layer, units, values, region, args.seed, out / "before_after.png", labels)
    print(f"{args.mode} {len(units)} units of {layer.name} on {args.concept!r}: average causal effect "
          f"{effect['ace']:+.4f} +- {effect['ci95']:.4f} (share {effect['share_before']:.4f} -> "
          f"{effect['share_after']:.4f}, {args.n} latents)")
    if args.curve:
        curve = effect_curve(sampler, layer, args.concept, segmenter, ranking, args.mode, min(args.n, 200), args.seed,
                             labels=labels, region=region)
        atomic_write_text(out / "curve.json", json.dumps(curve, indent=1))
        curve_plot(curve, out / "curve.png")
        for row in curve["curve"]:
            print(f"  k={row['k']:3d}  top {row['top']:+.4f}  random {row['random']:+.4f}")
    print(f"wrote {', '.join(str(out / f) for f in files)}")
    return 0
