"""``ganscape eval-images DIR_OR_NPZ --reference DATA``: metrics for any samples, a folder of images or an ``.npz``
(key ``x``, or its only array, as ``sample --out FILE.npz`` writes it: images (N,H,W[,C]) uint8 or float, or (N, D)
vectors), resized to the reference data's image size and converted to its channels (colour to grey by luma, grey to
colour by repetition, as Pillow converts an image file). Results are printed, and appended as records
(``ganscape.results``, run = the samples path) to ``--out``, replacing earlier records of the same samples and
metrics."""
from __future__ import annotations

from pathlib import Path

import torch

from ganscape.cli.common import parse_data, writable_file
from ganscape.cli.eval import add_metric_options, metric_options, print_values
from ganscape.registry import ConfigError


def register(sub) -> None:
    p = sub.add_parser("eval-images", help="evaluate a folder or .npz of samples against a reference dataset")
    p.add_argument("samples", metavar="DIR_OR_NPZ")
    p.add_argument("--reference", required=True, metavar="DATA",
                   help="reference data: a dataset name or a YAML mapping, e.g. '{name: mnist, root: DIR, split: test}'")
    p.add_argument("--n", type=int, default=None, help="samples to use: the first N (default: all given)")
    p.add_argument("--value-range", default="auto", choices=("auto", "unit", "signed"),
                   help="float .npz samples: [0, 1] (unit) or [-1, 1] (signed), clamped; auto tells [0, 1], [-1, 1] "
                        "and 0..255 apart by the values and refuses others (integers are 0..255)")
    p.add_argument("--out", default=None, type=writable_file, metavar="FILE.jsonl", help="append the records here")
    add_metric_options(p)
    p.set_defaults(func=run)


def npz_key(path: Path) -> str:
    """``x``, or the one array of an .npz that holds a single array (``ganscape sample --out FILE.npz`` writes it
    as ``arr_0``, as ``numpy.savez`` names a positional array)."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as arrays:
            return arrays.files[0] if "x" not in arrays.files and len(arrays.files) == 1 else "x"
    except (OSError, ValueError, EOFError):
        return "x"  # the npz reader says what is wrong with the file


def load_samples(path: str, shape: tuple[int, ...], n: int | None = None, value_range: str = "auto") -> torch.Tensor:
    """The first ``n`` samples (default all) as float tensors in the reference's layout ([-1, 1] images of its
    size); ``value_range`` of float .npz samples (see ``data.arrays.unit_range``)."""
    from ganscape.data import build_dataset

    src = Path(path).expanduser()
    if src.suffix == ".npz":
        section = {"name": "npz", "path": str(src), "key": npz_key(src), "value_range": value_range}
        if len(shape) == 3:  # images in the reference's size and channels, as a folder's files are read
            section.update(size=shape[-1], channels=shape[0])
    elif (src / "config.yaml").is_file() or (src / "checkpoints").is_dir():
        raise ConfigError(f"samples: {src} is a run folder; evaluate a run with `ganscape eval {src}` (eval-images "
                          "takes a folder of sample images or an .npz)")
    elif src.is_dir():
        if len(shape) != 3:
            raise ConfigError(f"samples: a folder of images cannot be compared with vector data of shape {shape}")
        section = {"name": "image_folder", "path": str(src), "size": shape[-1], "channels": shape[0]}
    else:
        raise ConfigError(f"samples: {src} is neither an .npz file nor a folder of images")
    ds = build_dataset(section, key="samples")
    if n is None and len(ds) < 2:
        raise ConfigError(f"samples: {path} holds {len(ds)} sample; the metrics need at least 2")
    if n is not None and not 2 <= n <= len(ds):
        raise ConfigError(f"--n: must be in [2, {len(ds)}] (the number of samples given), got {n}")
    x, _ = ds.get(torch.arange(len(ds) if n is None else n))
    if tuple(x.shape[1:]) != tuple(shape):
        raise ConfigError(f"samples: shape {tuple(x.shape[1:])} does not match the reference's {tuple(shape)}")
    return x


def run(args) -> int:
    from ganscape.data import build_dataset, data_meta
    from ganscape.data.meta import data_label
    from ganscape.metrics import parse_metrics
    from ganscape.metrics.evaluate import evaluate_samples
    from ganscape.results import ResultsWriter

    metrics = parse_metrics(args.metrics)
    reference = parse_data(args.reference, "--reference")
    ref_ds = build_dataset(reference, key="reference")
    x = load_samples(args.samples, ref_ds.shape, args.n, args.value_range)
    n = len(x)
    # samples from files have no data of their own: the reference is always part of the protocol's name
    values = evaluate_samples(x, metrics, n, reference, args.extractor, data_meta=data_meta(ref_ds),
                              reference_label=data_label(reference), reference_data=ref_ds, **metric_options(args))
    print(f"{args.samples} ({n} samples) vs {reference}:")
    print_values(values)
    if args.out:
        ResultsWriter(args.out).write((v.record(str(args.samples), 0) for v in values), replace_existing=True)
        print(f"wrote the records to {args.out} (replacing earlier ones of these samples and metrics)")
    return 0
