"""``ganscape data prepare NAME --from PATH`` (downloaded files -> uint8 arrays in the data root) and
``ganscape data list`` (what is prepared there). See docs/data.md."""
from __future__ import annotations

import argparse
from pathlib import Path

from ganscape.registry import ConfigError

PREPARER_NAMES = ("cifar10", "cifar100", "celeba", "lsun", "folder", "hf")


def register(sub) -> None:
    p = sub.add_parser("data", help="prepare downloaded datasets (CIFAR, CelebA, LSUN, folders, HF) for training")
    cmds = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    prep = cmds.add_parser("prepare", help="decode a dataset once into uint8 arrays in the data root")
    prep.add_argument("preparer", metavar="NAME", choices=PREPARER_NAMES, help=" | ".join(PREPARER_NAMES))
    prep.add_argument("--from", dest="source", required=True, metavar="PATH",
                      help="the downloaded archive, folder or lmdb (hf: also a hub name)")
    prep.add_argument("--root", default=None, help="data root (default: $GANSCAPE_DATA, else $GANSCAPE_CACHE/data, "
                                                   "else ~/.cache/ganscape/data)")
    prep.add_argument("--name", default=None, help="name to prepare it under (default: NAME, or from the source)")
    prep.add_argument("--size", type=int, default=None, help="image side in px (default: 32 CIFAR, 64 others)")
    prep.add_argument("--crop", type=int, default=None, help="centre crop side before resizing (celeba default 108)")
    prep.add_argument("--channels", type=int, default=None, help="folder: 1 (grey) or 3 (RGB, default)")
    prep.add_argument("--labels", action="store_true", default=None, help="folder: classes from sub-folder names")
    prep.add_argument("--limit", type=int, default=None, help="keep only the first N images (per split)")
    prep.add_argument("--image-column", default=None, help="hf: column of the images (default image)")
    prep.add_argument("--label-column", default=None, help="hf: column of the class labels")
    prep.add_argument("--split", default=None, help="hf: prepare only this split")
    prep.set_defaults(func=run_prepare)

    show = cmds.add_parser("list", help="list prepared datasets")
    show.add_argument("--root", default=None,
                      help="prepared-data root (default: $GANSCAPE_DATA, else $GANSCAPE_CACHE/data, else "
                           "~/.cache/ganscape/data)")
    show.set_defaults(func=run_list)


def run_prepare(args: argparse.Namespace) -> int:
    from ganscape.data.prepare import prepare

    options = {key: getattr(args, key) for key in ("size", "crop", "channels", "labels", "limit", "image_column",
                                                   "label_column", "split")}
    folder, written = prepare(args.preparer, args.source, args.root, args.name, **options)
    print(f"{'prepared' if written else 'already prepared (same source and options)'}: {folder}")
    return 0


def limit_note(n: int, limit: int | None) -> str:
    """" (--limit N)" after a split's count when the limit cut it short of its source."""
    return f" (--limit {limit})" if limit and n >= limit else ""


def run_list(args: argparse.Namespace) -> int:
    from ganscape.data.prepare import describe

    if args.root and Path(args.root).exists() and not Path(args.root).is_dir():
        raise ConfigError(f"--root: {args.root} is a file; name the folder that holds the prepared datasets")
    found = describe(args.root)
    for entry in found:
        splits = ", ".join(f"{name} {n}" + limit_note(n, entry["limits"].get(name))
                           + (" (damaged: prepare it again)" if name in entry["damaged"] else "")
                           for name, n in entry["splits"].items())
        print(f"{entry['name']:<16} {'x'.join(map(str, entry['shape'])):<10} {splits:<40} {entry['folder']}")
    if not found:
        print("no prepared datasets; see `ganscape data prepare --help`")
    return 0
