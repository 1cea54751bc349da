"""Run by tests/test_stacked.py under torchrun: every rank evaluates the same saved samples with ``evaluate_samples``
(each scoring its share), without the reference cache, and writes its values and the number of reference samples it
featurised to ``OUT/rank-R.json``.

    torchrun --nproc_per_node 2 tests/eval_ranks_driver.py JOBS.json OUT --cache-dir DIR --lenet-steps K \
        --reference-chunk C

JOBS.json: a list of ``{"samples": file saved with torch.save, "metrics": [...], "n": N, "reference": {...}}``;
``--lenet-steps`` is the digit classifier's training steps (the test's recipe, so the cached classifier is used);
``--reference-chunk`` the reference samples read at a time (``reference.CHUNK``), the unit of the ranks' shares."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ganscape.distributed import exit_rank, init_from_env, leave, world
from ganscape.features import lenet
from ganscape.metrics import reference
from ganscape.metrics.evaluate import evaluate_samples


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("jobs")
    parser.add_argument("out")
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--lenet-steps", type=int, required=True)
    parser.add_argument("--reference-chunk", type=int, required=True)
    args = parser.parse_args()
    lenet.RECIPE["steps"] = args.lenet_steps
    reference.CHUNK = args.reference_chunk
    featurised, extract = [], reference.extract

    def counting(extractor, x, *more, **options):
        featurised.append(len(x))
        return extract(extractor, x, *more, **options)

    reference.extract = counting
    init_from_env(cpu=True)
    try:
        got = []
        for job in json.loads(Path(args.jobs).read_text()):
            x = torch.load(job["samples"], weights_only=True)
            values = evaluate_samples(x, job["metrics"], job["n"], job["reference"], cache_dir=args.cache_dir,
                                      use_cache=False)
            got.append({v.metric: v.value for v in values})
        Path(args.out, f"rank-{world()[0]}.json").write_text(json.dumps({"values": got,
                                                                         "reference": sum(featurised)}))
    finally:
        leave()
    return 0


if __name__ == "__main__":
    exit_rank(main())
