"""``ganscape eval RUN_DIR --metrics fid,kid,is,pr --n 5000 [--checkpoint N|all]``.

Evaluates a run's generator (EMA weights when kept) and appends one JSON line per
checkpoint to ``RUN_DIR/eval.jsonl``: the step, the protocol (n, seed, reference data,
extractor) and the protocol-named results (e.g. ``fid5k_lenet-mnist``).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from ganscape.registry import ConfigError


def add_metric_options(p) -> None:
    """Options shared by ``eval`` and ``eval-images``."""
    p.add_argument("--metrics", default="fid,kid", help="comma-separated metric names (see `ganscape components`)")
    p.add_argument("--extractor", default="auto", choices=("auto", "lenet", "inception", "raw"),
                   help="feature network: auto = lenet for 1-channel digits, raw for 2-D data, inception for colour")
    p.add_argument("--inception-weights", default=None, metavar="PATH",
                   help="FID Inception-v3 weights (pytorch-fid .pth or .safetensors); nothing is downloaded")
    p.add_argument("--classifier", default=None, metavar="DATA",
                   help="data the digit classifier trains on (default: the reference data)")
    p.add_argument("--reference-n", type=int, default=None, help="reference samples (default: --n)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--no-cache", action="store_true", help="recompute reference features instead of using the cache")


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a run's checkpoints (FID, KID, IS, precision/recall, modes, ...)")
    p.add_argument("run_dir")
    p.add_argument("--n", type=int, default=5000, help="generated samples per metric")
    p.add_argument("--checkpoint", default=None, metavar="STEP|all", help="checkpoint step, or all (default: newest)")
    p.add_argument("--reference", default=None, metavar="DATA",
                   help="reference data: a dataset name or a YAML mapping (default: the run's own data section)")
    p.add_argument("--no-ema", action="store_true", help="use the raw G weights even when EMA weights exist")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    add_metric_options(p)
    p.set_defaults(func=run)


def parse_data(text: str | None, key: str) -> dict[str, Any] | None:
    """``mnist`` or ``'{name: mnist, split: test}'`` -> a validated data section."""
    from ganscape.data import DATASETS

    if text is None:
        return None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{key}: not a dataset name or YAML mapping: {text!r} ({err})") from None
    section = {"name": value} if isinstance(value, str) else value
    DATASETS.validate(section, key.lstrip("-"))
    return section


def metric_options(args) -> dict[str, Any]:
    from ganscape.training.run import resolve_device

    if args.reference_n is not None and args.reference_n < 2:
        raise ConfigError(f"--reference-n: need at least 2, got {args.reference_n}")
    return {"inception_weights": args.inception_weights, "classifier": parse_data(args.classifier, "--classifier"),
            "reference_n": args.reference_n, "use_cache": not args.no_cache,
            "device": str(resolve_device(args.device))}


def print_results(results: dict[str, float]) -> None:
    for key, value in results.items():
        print(f"  {key:40s} {value:.6g}" if isinstance(value, float) else f"  {key:40s} {value}")


def run(args) -> int:
    from ganscape.loading import load_generator
    from ganscape.metrics import parse_metrics
    from ganscape.metrics.evaluate import evaluate_generator
    from ganscape.training.checkpoint import list_checkpoints
    from ganscape.utils.io import append_jsonl

    metrics = parse_metrics(args.metrics)
    if args.n < 2:
        raise ConfigError(f"--n: need at least 2 samples, got {args.n}")
    options = metric_options(args)
    reference = parse_data(args.reference, "--reference")
    if args.checkpoint == "all":
        steps = list(list_checkpoints(args.run_dir)) or [None]
    elif args.checkpoint is None:
        steps = [None]
    else:
        try:
            steps = [int(args.checkpoint)]
        except ValueError:
            raise ConfigError(f"--checkpoint: expected a step number or 'all', got {args.checkpoint!r}") from None
    for step in steps:
        gen = load_generator(args.run_dir, step, ema=not args.no_ema, device=options["device"])
        start = time.time()
        results = evaluate_generator(gen, metrics, args.n, reference, args.extractor, seed=args.seed, **options)
        record = {"step": gen.step, "ema": not args.no_ema, "n": args.n, "seed": args.seed,
                  "reference_n": options["reference_n"] or args.n,  # requested; at most the data's size
                  "reference": reference or gen.config["data"], "extractor": args.extractor,
                  "seconds": round(time.time() - start, 2), **results}
        append_jsonl(Path(args.run_dir) / "eval.jsonl", json.loads(json.dumps(record, default=str)))
        print(f"step {gen.step}:")
        print_results(results)
    print(f"appended {len(steps)} record(s) to {Path(args.run_dir) / 'eval.jsonl'}")
    return 0
