"""``ganscape eval RUN_DIR``: evaluate a run of any kind (EMA weights when kept; a translation direction against its
target domain) and append one record per metric value to ``RUN_DIR/results.jsonl`` (``ganscape.results``): protocol
name, value, std, n, extractor fingerprint, step, checkpoint; a checkpoint's earlier records of the same metrics
are replaced. Under torchrun (``torchrun --nproc_per_node K -m ganscape eval RUN_DIR --samples N``) the K ranks share
each evaluation (``ganscape.metrics.evaluate``) and rank 0 alone writes and prints."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ganscape.cli.common import parse_data, positive, seed
from ganscape.features.extractor import EXTRACTOR_NAMES
from ganscape.registry import ConfigError


def add_metric_options(p) -> None:
    """Options shared by ``eval`` and ``eval-images``."""
    from ganscape.metrics.defaults import describe_defaults

    p.add_argument("--metrics", default="default",
                   help="comma-separated metric names (see `ganscape metrics`); default = the data's default set "
                        f"({describe_defaults()})")
    p.add_argument("--extractor", default="auto", choices=EXTRACTOR_NAMES,
                   help="feature network: auto = lenet for 1-channel digits, raw for 2-D data, inception for colour; "
                        "scenes = the scenes segmenter's features")
    p.add_argument("--inception-weights", default=None, metavar="PATH",
                   help="FID Inception-v3 weights (pytorch-fid .pth or .safetensors); nothing is downloaded")
    p.add_argument("--classifier", default=None, metavar="DATA",
                   help="data the digit classifier trains on (default: the reference data)")
    p.add_argument("--reference-n", type=int, default=None, help="reference samples (default: --n)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="auto: cuda when available")
    p.add_argument("--no-cache", action="store_true", help="recompute reference features instead of using the cache")


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a run's checkpoints (FID, KID, IS, precision/recall, modes, ...)")
    p.add_argument("run_dir")
    p.add_argument("--n", "--samples", type=int, default=5000,
                   help="generated samples per metric (--samples under torchrun, which reads --n as its own option)")
    p.add_argument("--checkpoint", default=None, metavar="STEP|all", help="checkpoint step, or all (default: newest)")
    p.add_argument("--reference", default=None, metavar="DATA",
                   help="reference data: a dataset name or a YAML mapping (default: the run's own data)")
    p.add_argument("--no-ema", action="store_true", help="use the raw weights even when EMA weights exist")
    p.add_argument("--direction", default=None, choices=("a2b", "b2a"),
                   help="translation runs only: which direction (default a2b)")
    p.add_argument("--seed", type=seed, default=0, help="sampling seed")
    p.add_argument("--edit", default=None, metavar="FILE",
                   help="evaluate the generator with this edit applied (edit.json written by `ganscape repair`)")
    p.add_argument("--bn-batch", type=int, default=0, metavar="B",
                   help="sample with the generator's batch norm in training mode, each chunk of B samples normalised "
                        "by its own statistics, as TensorFlow code that samples in training mode does (PacGAN's "
                        "Table 3: 128); the records' checkpoint says +bnbatchB (default 0: running statistics)")
    add_metric_options(p)
    p.set_defaults(func=run)


def edit_tag(path: str) -> str:
    """``edit.json@1a2b3c4d``: the edit file's name and the start of its contents' SHA-256, so that two edits saved
    under one name (``repair`` always writes ``edit.json``) keep their own records."""
    from ganscape.utils.io import file_digest

    return f"{Path(path).name}@{file_digest(path)[:8]}"


def metric_options(args) -> dict[str, Any]:
    from ganscape.runtime import resolve_device

    if args.reference_n is not None:
        positive(args.reference_n, "--reference-n", 2)
    return {"inception_weights": args.inception_weights, "classifier": parse_data(args.classifier, "--classifier"),
            "reference_n": args.reference_n, "use_cache": not args.no_cache,
            "device": str(resolve_device(args.device, "--device"))}


def print_values(values) -> None:
    for v in values:
        std = f" +- {v.std:.3g}" if v.std is not None else ""
        print(f"  {v.metric:40s} {v.value:.6g}{std}")


def checkpoint_steps(run_dir: str, text: str | None) -> list[int | None]:
    from ganscape.training.checkpoint import list_checkpoints

    if text is None:
        return [None]
    if text == "all":
        return readable_steps(run_dir, list(list_checkpoints(run_dir))) or [None]
    try:
        return [int(text)]
    except ValueError:
        raise ConfigError(f"--checkpoint: expected a step number or 'all', got {text!r}") from None


def readable_steps(run_dir: str, steps: list[int]) -> list[int]:
    """``steps`` once every one of their checkpoints has been read: a corrupt one stops ``--checkpoint all`` before
    any record is appended (else a rerun after the fix would append the first checkpoints' records twice)."""
    from ganscape.loading import open_run

    for step in steps:
        open_run(run_dir, step)
    return steps


def check_bn_batch(batch: int, n: int) -> None:
    """``--bn-batch`` 0 (off) or at least 2 and at most ``--n``, so that every sample is drawn in a chunk of B."""
    if batch:
        positive(batch, "--bn-batch", 2)
        if batch > n:
            raise ConfigError(f"--bn-batch: {batch} is more than the --n {n} samples drawn; give --bn-batch <= --n")


def use_batch_statistics(sampler, batch: int) -> None:
    """``--bn-batch``: ``sampler`` draws with batch statistics over chunks of ``batch``; refused (one line) for a
    generator without batch norm or a translation run."""
    from ganscape.sampling import GeneratorSampler, batch_norm_layers

    if not isinstance(sampler, GeneratorSampler):
        raise ConfigError("--bn-batch: applies to a generator's samples, not to a translation run")
    if not batch_norm_layers(sampler.G):
        raise ConfigError(f"--bn-batch: generator {sampler.config['generator']['name']!r} has no batch norm layer; "
                          "leave --bn-batch out")
    sampler.batch_stats = batch


def run(args) -> int:
    from ganscape.dissection.intervene import read_edit
    from ganscape.distributed import init_from_env, is_main_process, leave
    from ganscape.metrics import parse_metrics
    from ganscape.results import ResultsWriter
    from ganscape.utils.io import check_writable

    metrics = parse_metrics(args.metrics)
    positive(args.n, "--n/--samples", 2)
    check_bn_batch(args.bn_batch, args.n)
    options = metric_options(args)
    reference = parse_data(args.reference, "--reference")
    writer = ResultsWriter.for_run(args.run_dir)
    steps = checkpoint_steps(args.run_dir, args.checkpoint)
    check_writable(writer.path)
    edit = read_edit(args.edit) if args.edit else None
    init_from_env(cpu=options["device"] == "cpu")  # under torchrun the ranks share each evaluation
    try:
        main = is_main_process()
        for step in steps:
            evaluate_step(args, step, metrics, options, reference, edit, writer if main else None)
    finally:
        leave()
    if main:
        print(f"wrote {len(steps)} checkpoint(s) of records to {writer.path}")
    return 0


def evaluate_step(args, step: int, metrics: list, options: dict[str, Any], reference: dict[str, Any] | None,
                  edit, writer) -> None:
    """Evaluate checkpoint ``step``; ``writer`` (rank 0's, None on the other ranks of a torchrun) records and prints
    the values."""
    from ganscape.dissection.intervene import apply_edit
    from ganscape.loading import load_sampler
    from ganscape.metrics.evaluate import evaluate_sampler

    sampler, loaded = load_sampler(args.run_dir, step, not args.no_ema, options["device"], args.direction,
                                   with_run=True)
    checkpoint = loaded.path.name + ("+b2a" if args.direction == "b2a" else "")  # which translation direction
    checkpoint += ("+raw" if args.no_ema else "") + (f"+seed{args.seed}" if args.seed else "")  # what was drawn
    if edit is not None:
        apply_edit(sampler, edit, args.edit)
        checkpoint += f"+edit:{edit_tag(args.edit)}"  # results of an edited generator say so
    if args.bn_batch:
        use_batch_statistics(sampler, args.bn_batch)
        checkpoint += f"+bnbatch{args.bn_batch}"
    values = evaluate_sampler(sampler, metrics, args.n, reference, args.extractor, seed=args.seed, **options)
    if writer is None:
        return
    # a rerun (after Ctrl-C, or to redo one) replaces a checkpoint's records instead of adding a second copy
    writer.write((v.record(str(args.run_dir), sampler.step, checkpoint) for v in values), replace_existing=True)
    print(f"step {sampler.step}:")
    print_values(values)
