"""``ganscape dissect RUN --layer NAME [--layer ...] --out DIR``: which units of the generator draw which concept
(GAN Dissection), written as DIR/dissect.json and DIR/dissect.html; ``--list-layers`` lists the layers."""
from __future__ import annotations

from ganscape.cli.common import (add_dissection_options, drawn_from, open_generator, open_segmenter, output_folder,
                                 positive)
from ganscape.registry import ConfigError


def quantile(text: str) -> float | str:
    if text == "iqr":
        return text
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--quantile: expected a top fraction such as 0.01, or iqr; got {text!r}") from None


def register(sub) -> None:
    p = sub.add_parser("dissect", help="GAN Dissection: label generator units with the concepts they draw")
    add_dissection_options(p)
    p.add_argument("--list-layers", action="store_true", help="list the generator's layers and exit")
    p.add_argument("--n", type=int, default=2000, help="generated samples")
    p.add_argument("--quantile", default="0.01", help="unit threshold: top fraction (0.01 = top 1%%) or iqr")
    p.add_argument("--batch", type=int, default=50, help="samples per forward pass")
    p.add_argument("--out", default=None, metavar="DIR", help="folder for dissect.json and dissect.html")
    p.set_defaults(func=run)


def run(args) -> int:
    from ganscape.dissection.dissect import dissect, list_layers, resolve_layers, threshold_levels
    from ganscape.dissection.report import write_outputs

    given = [flag for flag, value in (("--layer", args.layer), ("--out", args.out)) if value]
    if args.list_layers and given:
        raise ConfigError(f"{given[0]}: --list-layers lists the generator's layers and exits, dissecting nothing; "
                          f"give one of them")
    sampler = open_generator(args)
    if args.list_layers:
        for layer in list_layers(sampler):
            shared = f"  (runs {layer.calls} times per forward: not dissectable)" if layer.calls > 1 else ""
            print(f"{layer.name:32s} {layer.channels:5d} units  {layer.height} x {layer.width}{shared}")
        return 0
    if args.out is None:
        raise ConfigError("--out: name the folder for dissect.json and dissect.html (or use --list-layers)")
    out = output_folder(args.out, "dissect.json", "dissect.html")
    positive(args.n, "--n")
    positive(args.batch, "--batch")
    resolve_layers(sampler, args.layer)  # a bad --layer or --quantile is refused before the segmenter is built
    threshold_levels(quantile(args.quantile))  # (or trained)
    segmenter = open_segmenter(args, sampler)
    result = dissect(sampler, args.layer, segmenter, n=args.n, quantile=quantile(args.quantile), batch=args.batch,
                     seed=args.seed, labels=args.label)
    result.update(drawn_from(args, sampler))
    json_path, html_path = write_outputs(out, result, sampler)
    for name, layer in result["layers"].items():
        counts = ", ".join(f"{c} {k}" for c, k in sorted(layer["units_per_concept"].items(), key=lambda x: -x[1]))
        print(f"{name}: {sum(layer['units_per_concept'].values())} of {layer['channels']} units labelled ({counts})")
    print(f"wrote {json_path} and {html_path}")
    return 0
