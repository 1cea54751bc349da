"""GAN Dissection end to end on the procedural scenes: train (or reuse) dcgan-scenes and the scenes segmenter,
dissect two layers, compare ablating the top-10 units of a concept with 10 random ones, and repair a layer.

    python benchmarks/dissection.py [--run runs/dcgan-scenes] [--out dissection.json]

About 10 minutes on 2 CPU cores from a clean checkout (most of it training dcgan-scenes once); prints the segmenter's
held-out IoU, units per concept per layer, average causal effects and FID before and after repair.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from common import machine_line


def main() -> None:
    from ganscape.dissection.dissect import dissect, ranked_units, resolve_layers
    from ganscape.dissection.intervene import causal_effect, choose_units
    from ganscape.dissection.repair import repair
    from ganscape.dissection.report import write_outputs
    from ganscape.dissection.segmenter import scene_segmenter
    from ganscape.features.extractor import build_extractor
    from ganscape.loading import load_sampler
    from ganscape.metrics.reference import reference_features
    from ganscape.training import train

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="runs/dcgan-scenes", help="run folder (trained here unless it is done)")
    parser.add_argument("--layers", default="net.5,net.8")
    parser.add_argument("--concepts", default="tree,house,cloud,sun")
    parser.add_argument("--n", type=int, default=1000, help="samples per dissection and repair FID")
    parser.add_argument("--ace-n", type=int, default=500, help="latents per causal effect")
    parser.add_argument("--out", default="dissection.json")
    args = parser.parse_args()
    print(machine_line())
    timings, start = {}, time.perf_counter()
    train("dcgan-scenes", args.run, show_progress=False)
    timings["train"] = time.perf_counter() - start
    sampler = load_sampler(args.run)
    start = time.perf_counter()
    segmenter = scene_segmenter(int(sampler.data_meta["shape"][-1]))
    timings["segmenter"] = time.perf_counter() - start
    print(f"segmenter {segmenter.tag}: held-out mean IoU {np.nanmean(list(segmenter.iou.values())):.3f} ("
          + ", ".join(f"{k} {v:.3f}" for k, v in segmenter.iou.items()) + ")")
    start = time.perf_counter()
    layers = args.layers.split(",")
    result = dissect(sampler, layers, segmenter, n=args.n, quantile=0.01)
    result.update({"run": args.run, "step": sampler.step})
    write_outputs(Path(args.out).with_suffix(""), result, sampler)
    timings["dissect"] = time.perf_counter() - start
    print(f"generated concept shares: {result['concept_pixel_share']}")
    for name, layer in result["layers"].items():
        print(f"{name} ({layer['channels']} units, {layer['size'][0]}x{layer['size'][1]}), top-1% thresholds: "
              f"units per concept {layer['units_per_concept']}")
    by_iqr = dissect(sampler, layers, segmenter, n=args.n, quantile="iqr", progress=False)
    for name, layer in by_iqr["layers"].items():
        print(f"{name}, iqr thresholds: units per concept {layer['units_per_concept']}")
    start = time.perf_counter()
    effects = []
    for name in layers:
        layer = resolve_layers(sampler, [name])[0]
        for concept in args.concepts.split(","):
            ranking = ranked_units(result, name, concept)
            top = causal_effect(sampler, layer, ranking[:10], concept, segmenter, "ablate", args.ace_n)
            rand = causal_effect(sampler, layer, choose_units("random:10", layer, None, seed=1), concept, segmenter,
                                 "ablate", args.ace_n)
            effects.append({"layer": name, "concept": concept, "top10": top, "random10": rand})
            print(f"ablate 10 units of {name} on {concept:6s}: top-10 ACE {top['ace']:+.4f} +- {top['ci95']:.4f} "
                  f"(share {top['share_before']:.4f} -> {top['share_after']:.4f}); random-10 {rand['ace']:+.4f} "
                  f"+- {rand['ci95']:.4f}")
    timings["interventions"] = time.perf_counter() - start
    start = time.perf_counter()
    extractor = build_extractor("scenes", tuple(sampler.data_meta["shape"]), sampler.reference)
    real, _ = reference_features(sampler.reference, args.n, extractor)
    layer = resolve_layers(sampler, [layers[0]])[0]
    repaired = repair(sampler, layer, extractor, real, k=10, n=args.n)
    timings["repair"] = time.perf_counter() - start
    print(f"repair {layer.name}: {repaired['metric']} on held-out latents {repaired['fid_before']:.3f} -> "
          f"{repaired['fid_after']:.3f} with units {repaired['ablated']} ablated")
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    Path(args.out).write_text(json.dumps({"segmenter_iou": segmenter.iou, "units_per_concept": {
        n: l["units_per_concept"] for n, l in result["layers"].items()}, "units_per_concept_iqr": {
        n: l["units_per_concept"] for n, l in by_iqr["layers"].items()}, "effects": effects,
        "repair": {k: v for k, v in repaired.items() if k != "effects"}, "seconds": timings}, indent=1))


if __name__ == "__main__":
    main()
