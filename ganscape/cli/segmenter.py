"""``ganscape segmenter train scenes [--size 32]``: train (or load) the scenes segmenter that dissection uses and print
its held-out IoU per concept. Dissection trains it on first use anyway; this does it ahead of time."""
from __future__ import annotations

from ganscape.cli.common import positive


def register(sub) -> None:
    p = sub.add_parser("segmenter", help="train the built-in scenes segmenter used by dissect")
    cmds = p.add_subparsers(dest="segmenter_command", required=True, metavar="ACTION")
    train = cmds.add_parser("train", help="train (or load from the cache) and print held-out IoU")
    train.add_argument("name", choices=("scenes",))
    train.add_argument("--size", type=int, default=32, help="image size in px (the size of the runs to dissect)")
    train.set_defaults(func=run)


def run(args) -> int:
    from ganscape.dissection.segmenter import scene_segmenter

    positive(args.size, "--size", 16)
    segmenter = scene_segmenter(args.size)
    for concept, iou in segmenter.iou.items():
        print(f"  {concept:8s} IoU {iou:.3f}")
    values = [v for v in segmenter.iou.values() if v == v]
    print(f"{segmenter.tag}: held-out mean IoU {sum(values) / len(values):.3f}")
    return 0
