"""``ganscape repair RUN --layer NAME [--k 20] [--n 2000] --out DIR``: ablate the k units whose ablation alone
improves FID the most; writes DIR/repair.json and DIR/edit.json (for ``sample --edit`` and ``eval --edit``)."""
from __future__ import annotations

import sys

from ganscape.cli.common import add_dissection_options, drawn_from, open_generator, output_folder, positive
from ganscape.features.extractor import EXTRACTOR_NAMES
from ganscape.registry import ConfigError


def register(sub) -> None:
    p = sub.add_parser("repair", help="find and ablate the units that hurt FID most (artifact repair)")
    add_dissection_options(p, segmenter=False)
    p.add_argument("--k", type=int, default=20, help="units to ablate")
    p.add_argument("--n", type=int, default=2000, help="samples per FID")
    p.add_argument("--extractor", default=None, choices=EXTRACTOR_NAMES,
                   help="feature network (default: scenes for scenes runs, else the data's default)")
    p.add_argument("--inception-weights", default=None, metavar="PATH", help="FID Inception-v3 weights (colour runs)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for repair.json and edit.json")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from ganscape.dissection.dissect import resolve_layers
    from ganscape.dissection.repair import repair
    from ganscape.features.extractor import build_extractor
    from ganscape.metrics.reference import reference_features
    from ganscape.utils.io import atomic_write_text

    out = output_folder(args.out, "repair.json", "edit.json")
    positive(args.k, "--k")
    positive(args.n, "--n", 2)
    if len(args.layer) != 1:
        raise ConfigError("--layer: repair edits one layer; give --layer NAME once (`ganscape dissect RUN "
                          "--list-layers` lists them)")
    sampler = open_generator(args)
    layer = resolve_layers(sampler, args.layer)[0]
    shape = tuple(sampler.data_meta["shape"])
    name = args.extractor or ("scenes" if sampler.reference.get("name") == "scenes" else "auto")
    extractor = build_extractor(name, shape, sampler.reference, args.inception_weights, device=sampler.device)
    real, _ = reference_features(sampler.reference, args.n, extractor)
    result = repair(sampler, layer, extractor, real, args.k, args.n, args.seed, labels=args.label)
    result.update(drawn_from(args, sampler))
    result["edit"]["found_on"] = {key: result[key] for key in ("run", "step", "weights")}
    atomic_write_text(out / "repair.json", json.dumps(result, indent=1))
    atomic_write_text(out / "edit.json", json.dumps(result["edit"], indent=1))
    print(f"{result['metric']} on held-out latents (seed {result['held_out_seed']}): {result['fid_before']:.4g} before, "
          f"{result['fid_after']:.4g} with units {', '.join(map(str, result['ablated'])) or '(none helps)'} of "
          f"{layer.name} ablated")
    if result["ablated"] and result["fid_after"] >= result["fid_before"]:
        print(f"warning: together the units do not lower {result['metric']} on held-out latents "
              f"({result['fid_before']:.4g} -> {result['fid_after']:.4g}); try a smaller --k or a larger --n",
              file=sys.stderr)
    print(f"wrote {out / 'repair.json'} and {out / 'edit.json'} (apply with `ganscape sample|eval --edit`)")
    return 0
