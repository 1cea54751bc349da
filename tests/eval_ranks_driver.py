"""Run by tests/test_stacked.py under torchrun: every rank evaluates the same saved samples with ``evaluate_samples``
(each scoring its share), without the reference cache unless the job says ``"use_cache": true`` (in the job's
``"cache_dir"`` when it names one), and writes its
values, the number of reference samples it featurised (per job), the metrics it computed and the reference arrays it
was given to ``OUT/rank-R.json``.

    torchrun --nproc_per_node 2 tests/eval_ranks_driver.py JOBS.json OUT --cache-dir DIR --lenet-steps K \
        --reference-chunk C

JOBS.json: a list of ``{"samples": file saved with torch.save, "metrics": [...], "n": N, "reference": {...}}``; a job
with ``"fail": {"ranks": [R, ...], "in": WHERE}`` has each rank R raise a MemoryError where WHERE says (``generation``:
taking its share of the samples; ``samples``, ``reference``: running the feature network or digit classifier on its
share of the generated or the reference samples; ``gather``: making room for the joined rows), and each rank records
the error it got instead of values;
``--lenet-steps`` is the digit classifier's training steps (the test's recipe, so the cached classifier is used);
``--reference-chunk`` the reference samples read at a time (``reference.CHUNK``), the unit of the ranks' shares."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ganscape.distributed import data_parallel, exit_rank, init_from_env, leave, world
from ganscape.features import lenet
from ganscape.metrics import evaluate, reference
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
    featurised, extract, failing = [], reference.extract, {}
    joined, gather_buffers = evaluate.joined, data_parallel.gather_buffers

    def failed(where: str) -> None:
        if world()[0] in failing.get("ranks", ()) and failing.get("in") == where:
            raise MemoryError(f"rank {world()[0]}: no memory for its share of the {where} (simulated)")

    def failing_in(where: str, function):
        def call(*args, **options):
            failed(where)
            return function(*args, **options)
        return call

    def counting(extractor, x, *more, **options):
        failed("reference")
        featurised.append(len(x))
        return extract(extractor, x, *more, **options)

    reference.extract, evaluate.extract = counting, failing_in("samples", extract)
    evaluate.joined = failing_in("generation", joined)
    data_parallel.gather_buffers = failing_in("gather", gather_buffers)
    computed, held, values_of, reference_features = [], [], evaluate.values_of, evaluate.reference_features

    def counted_values(metric, *more, **options):
        computed.append(metric.name)
        return values_of(metric, *more, **options)

    def counted_reference(*more, **options):
        features, key = reference_features(*more, **options)
        held.append(None if features is None else len(features))
        return features, key

    evaluate.values_of, evaluate.reference_features = counted_values, counted_reference
    init_from_env(cpu=True)
    try:
        got, reference_rows = [], []
        for job in json.loads(Path(args.jobs).read_text()):
            x = torch.load(job["samples"], weights_only=True)
            before = len(featurised)
            failing.clear()
            failing.update(job.get("fail", {}))
            try:
                values = evaluate_samples(x, job["metrics"], job["n"], job["reference"],
                                          cache_dir=job.get("cache_dir", args.cache_dir),
                                          use_cache=job.get("use_cache", False))
                got.append({v.metric: v.value for v in values})
            except MemoryError as err:
                got.append({"error": [type(err).__name__, str(err)]})
            reference_rows.append(sum(featurised[before:]))
        Path(args.out, f"rank-{world()[0]}.json").write_text(json.dumps({
            "values": got, "reference": reference_rows, "computed": computed, "held": held}))
    finally:
        leave()
    return 0


if __name__ == "__main__":
    exit_rank(main())
