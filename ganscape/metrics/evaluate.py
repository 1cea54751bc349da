"""Runners: evaluate samples, a sampler (any trained run) or a run folder on a list of metrics.

Every runner returns ``MetricValue``s (``ganscape.results``): a protocol name, the value, its std where the metric has
one, the sample count and the feature extractor's fingerprint.

Under torchrun (evaluation during a multi-process run, ``torchrun -m ganscape eval``) each rank generates, and runs
the feature network or digit classifier on, its own share of the samples (``GeneratorSampler.sample``'s ``part``);
the shares' features are joined in sample order on rank 0, which alone holds them and the reference features,
computes the values (those of one process up to float rounding) and sends them to every rank. The toy metrics' 2,500
points are drawn whole and scored on every rank.

Cost: the feature network is built once per process (``build_extractor`` keeps it) and the reference features, FID's
real statistics and the real k-NN radii once per process and reference (``ganscape.metrics.cache``); the numpy
linear algebra of FID and KID runs on at most as many BLAS threads as torch is given (``blas_threads``), since a
study worker runs beside other workers on shared cores and an oversubscribed BLAS spins instead of computing."""
from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import numpy as np
import torch

from ganscape.data.meta import data_label
from ganscape.data.stacked import digit_source
from ganscape.distributed.data_parallel import (computed_on_every_rank, computed_on_main, decided_on_every_rank,
                                                gathered_on_main, world)
from ganscape.features.extractor import Extractor, build_extractor, extract, require_probs
from ganscape.metrics.defaults import resolve_metrics
from ganscape.metrics.reference import reference_features
from ganscape.metrics.registry import METRICS, Inputs, Metric, build_metric, reference_suffix
from ganscape.registry import ConfigError
from ganscape.results import MetricValue, Record
from ganscape.sampling import joined, share
from ganscape.utils.logs import warn_once

SampleFn = Callable[[int, tuple[int, int]], torch.Tensor]  # (count, part) -> that part of count samples
log = logging.getLogger("ganscape.metrics")
T = TypeVar("T")
STACKED_CLASSES = 10  # Stacked MNIST: three digits of ten classes, 1,000 modes


def values_of(metric: Metric, outputs: dict, n: int, tag: str, fingerprint: str,
              reference: str = "") -> list[MetricValue]:
    return [MetricValue(metric.key(name, n, tag, reference), value, std, n, fingerprint)
            for name, (value, std) in outputs.items()]


def finite(*arrays: Any) -> bool:
    """Whether no array of ``arrays`` (tensors, numpy arrays, None for none) holds NaN or inf."""
    def one(a: Any) -> bool:
        return bool(torch.isfinite(a).all()) if isinstance(a, torch.Tensor) else bool(np.isfinite(a).all())
    return all(a is None or one(a) for a in arrays)


def not_finite(metric: Metric, *arrays: Any, samples_finite: bool = True) -> dict | None:
    """NaN for each of ``metric``'s outputs when any of ``arrays`` (samples, features) holds NaN or inf, or
    ``samples_finite`` is False (every rank's share checked): a diverged generator's checkpoint is scored NaN (a
    result, as a diverged run is), not a crash of the metric's algebra."""
    if samples_finite and finite(*arrays):
        return None
    log.warning("warning: %s: the samples hold NaN or inf (a diverged generator?); scored NaN", metric.name)
    return {name: (math.nan, None) for name in METRICS.get(metric.name).meta["outputs"]}


@contextmanager
def blas_threads() -> Iterator[None]:
    """Limit numpy's BLAS to ``torch.get_num_threads()`` threads (when it has more) for the duration: a study worker
    started with ``--threads 1`` beside another one must not run 2-thread matrix products on 2 busy cores (KID was
    5-10x slower so). The thread count of a BLAS product does not change its values."""
    from threadpoolctl import ThreadpoolController

    blas = ThreadpoolController().select(user_api="blas")
    wanted = torch.get_num_threads()
    if not blas.lib_controllers or all(lib.num_threads <= wanted for lib in blas.lib_controllers):
        yield
        return
    with blas.limit(limits=wanted):
        yield


def evaluate_samples(fake: torch.Tensor | None, metrics: list, n: int, reference: dict[str, Any],
                     extractor: str = "auto", *, sample_fn: SampleFn | None = None,
                     data_meta: dict[str, Any] | None = None, reference_n: int | None = None,
                     inception_weights: str | None = None, classifier: dict[str, Any] | None = None,
                     cache_dir: str | None = None, use_cache: bool = True, device: str = "cpu",
                     batch: int = 500, reference_label: str = "", reference_data=None) -> list[MetricValue]:
    """Core runner. Samples come from ``fake`` (a tensor) or ``sample_fn(n, part) -> tensor`` (used when a metric
    fixes its own n, e.g. the toy protocol's 2500; ``part`` as ``GeneratorSampler.sample``'s). ``data_meta`` describes
    the samples' data (shape, toy centres, kind: which metrics ``default`` means). ``reference_label`` (``-mnist-test``)
    marks a reference other than the protocol's own in the names of the metrics that compare with it;
    ``reference_data`` is the dataset ``reference`` builds, when the caller has it already."""
    meta = dict(data_meta or {})
    if fake is not None:
        meta.setdefault("shape", list(fake.shape[1:]))
    specs = [build_metric(m) for m in resolve_metrics(metrics, meta)]
    warn_unused_options(specs, extractor=extractor, inception_weights=inception_weights, reference_n=reference_n,
                        classifier=classifier)

    def drawn(count: int, part: tuple[int, int] = (0, 1)) -> torch.Tensor:
        if fake is None:
            return sample_fn(count, part)
        if len(fake) < count:
            raise ConfigError(f"--n: {count} samples requested but only {len(fake)} given")
        if part[1] == 1:
            return fake[:count]
        return joined(list(share(fake[:count].split(batch), part)), list(fake.shape[1:]), fake.device)

    def shared(count: int, part: tuple[int, int] = (0, 1)) -> torch.Tensor:
        """``part`` of ``count`` samples (this rank's share, or all of them); a failure on any rank is raised on every
        rank (``computed_on_every_rank``)."""
        return computed_on_every_rank(lambda: drawn(count, part))

    with blas_threads():
        # the toy metrics' points are drawn whole and scored by each rank alone: no collective when they are all
        # there is (a script may score a toy run on rank 0 alone); a failed draw or score is shared when collectives
        # follow
        together = alone if all(m.needs == "toy" for m in specs) else computed_on_every_rank
        out = toy_values([m for m in specs if m.needs == "toy"], drawn, n, meta, fake, together)
        out += stacked_values([m for m in specs if m.needs == "stacked"], shared, n, reference, classifier,
                              cache_dir, device, batch, use_cache)
        features = [m for m in specs if m.needs in ("features", "probs")]
        if features:
            ext = computed_on_every_rank(lambda: build_extractor(
                extractor, tuple(meta["shape"]), reference, inception_weights, classifier, cache_dir, device,
                cached=use_cache))
            out += feature_values(features, ext, shared(n, world()), n, reference, reference_n, cache_dir, use_cache,
                                  batch, reference_label, reference_data)
    return out


def warn_unused_options(specs: list[Metric], **given: Any) -> None:
    """One warning (once per process) naming the options given that none of the metrics reads: a feature network's
    (``extractor``, ``inception_weights``, ``reference_n``) when no metric compares features, and the digit
    ``classifier`` when neither Stacked MNIST's modes nor features are scored (``eval --metrics modes
    --extractor inception`` ran without a word)."""
    needs = {m.needs for m in specs}
    reads = {"classifier"} if needs & {"stacked", "features", "probs"} else set()
    if needs & {"features", "probs"}:
        reads |= {"extractor", "inception_weights", "reference_n"}
    unused = [f"--{name.replace('_', '-')} {value.get('name', value) if isinstance(value, dict) else value}"
              for name, value in given.items() if name not in reads and value not in (None, "auto", "")]
    said = ", ".join(unused)
    if unused:
        warn_once(log, said, "warning: %s: not used by the metrics asked for (%s)", said,
                  ", ".join(m.name for m in specs))


def alone(compute: Callable[[], T]) -> T:
    """``compute()`` on this rank alone, no collective (``computed_on_every_rank``'s twin for work no rank waits on)."""
    return compute()


def toy_values(specs: list[Metric], samples: SampleFn, n: int, meta: dict[str, Any], fake: torch.Tensor | None,
               together: Callable[[Callable[[], dict]], dict] = alone) -> list[MetricValue]:
    """The toy metrics of ``specs`` on ``samples(count)`` (all the points, on every rank); ``together`` runs each
    metric's draw and score (``computed_on_every_rank`` when other metrics' collectives follow)."""
    info = meta.get("info") or {}
    out = []
    for metric in specs:
        if "centers" not in info or len(meta.get("shape", ())) != 1:
            raise ConfigError(f"metrics: {metric.name!r} needs 2-D toy mixture data with known centres "
                              f"(ring8, grid25); got data of shape {tuple(meta.get('shape', ()))}")
        count = metric.n or n
        if fake is not None:
            count = min(count, len(fake))  # given samples: use what exists; the name says how many

        def scored() -> dict:
            inputs = Inputs(toy_samples=samples(count), centers=torch.as_tensor(info["centers"]),
                            std=float(info["std"]))
            return not_finite(metric, inputs.toy_samples) or metric.compute(inputs)

        out += values_of(metric, together(scored), count, "toy", "toy")
    return out


def stacked_values(specs: list[Metric], samples: SampleFn, n: int, reference: dict[str, Any],
                   classifier: dict[str, Any] | None, cache_dir, device, batch: int,
                   use_cache: bool = True) -> list[MetricValue]:
    if not specs:
        return []
    x = samples(n, world())
    if x.ndim != 4 or x.shape[1] != 3:
        raise ConfigError(f"metrics: stacked_modes needs 3-channel stacked digit images, got shape {tuple(x.shape[1:])}")
    lenet = computed_on_every_rank(lambda: build_extractor(
        "lenet", (1,) + tuple(x.shape[2:]), digit_reference(reference, classifier), cache_dir=cache_dir,
        device=device, cached=use_cache))

    def digits_of(mine: torch.Tensor) -> tuple[torch.Tensor]:
        _, probs = extract(lenet, mine.reshape(-1, 1, *mine.shape[2:]), batch, want_features=False, want_probs=True)
        if probs.shape[1] != STACKED_CLASSES:  # its ids would fold into other triples, or past the 1,000
            raise ConfigError(f"stacked_modes: the digit classifier ({lenet.tag}) tells {probs.shape[1]} classes; "
                              f"Stacked MNIST counts triples of {STACKED_CLASSES} digits: give classifier= a "
                              "10-class digit dataset (mnist or digits)")
        return (torch.from_numpy(probs.argmax(1)).reshape(-1, 3),)

    samples_finite, (digits,) = scored_shares(x, digits_of, (True,))
    inputs = Inputs(stacked_digits=digits)
    return computed_on_main(lambda: [
        v for m in specs
        for v in values_of(m, not_finite(m, samples_finite=samples_finite) or m.compute(inputs), n, lenet.tag,
                           lenet.fingerprint)])


def feature_values(specs: list[Metric], ext: Extractor, x: torch.Tensor, n: int, reference: dict[str, Any],
                   reference_n: int | None, cache_dir, use_cache: bool, batch: int,
                   reference_label: str = "", reference_data=None) -> list[MetricValue]:
    """``x``: this rank's share of the n samples (all of them in one process)."""
    want_features = any(m.needs == "features" for m in specs)
    want_probs = any(m.needs == "probs" for m in specs)
    if want_probs:
        require_probs(ext)  # before the collectives below, on every rank (an empty share extracts nothing)
    samples_finite, (fake_f, fake_p) = scored_shares(x, lambda mine: extract(ext, mine, batch, want_features,
                                                                              want_probs), (want_features, want_probs))
    real_f = None
    if want_features:
        real_f, _ = reference_features(reference, reference_n or n, ext, cache_dir=cache_dir, use_cache=use_cache,
                                       dataset=reference_data)

    def values() -> list[MetricValue]:
        all_finite = samples_finite and finite(fake_f, fake_p)  # the same for every metric: checked once
        # a reference_n asked for is named by the count read (a smaller dataset gives fewer); the default (as many
        # as generated, or the whole dataset when smaller) is the protocol's own and adds nothing
        suffix = reference_suffix(n, len(real_f) if reference_n not in (None, n) else n, reference_label) \
            if want_features else ""
        inputs = Inputs(fake_features=fake_f, real_features=real_f, fake_probs=fake_p, device=ext.device)
        return [v for m in specs
                for v in values_of(m, not_finite(m, samples_finite=all_finite) or m.compute(inputs), n, ext.tag,
                                   ext.fingerprint, suffix if m.needs == "features" else "")]

    return computed_on_main(values)


def scored_shares(x: torch.Tensor, score: Callable[[torch.Tensor], tuple],
                  wanted: tuple[bool, ...]) -> tuple[bool, list]:
    """(whether the samples of every rank are finite, each wanted output of ``score`` (arrays, rows: samples) joined
    in sample order on rank 0; None for the outputs not wanted and on the other ranks). ``x`` is this rank's share of
    the samples (all of them in one process); a rank whose share is empty scores nothing but takes part in every
    collective."""
    local, finite_shares = decided_on_every_rank(lambda: score(x) if len(x) else (None,) * len(wanted),
                                                 lambda _: finite(x))
    return all(finite_shares), [gathered_on_main(a) if want else None for a, want in zip(local, wanted)]


def digit_reference(reference: dict[str, Any], classifier: dict[str, Any] | None) -> dict[str, Any]:
    """The 1-channel digit data a Stacked-MNIST classifier trains on."""
    if classifier:
        return classifier
    if (source := digit_source(reference)) is not None:
        return source
    if reference.get("name") in ("mnist", "digits"):
        return reference
    if "mnist" in str(reference.get("name")):
        root = {"root": reference["root"]} if "root" in reference else {}
        return {"name": "mnist", "split": reference.get("split", "train"), **root}
    raise ConfigError(f"stacked_modes: cannot tell which digit data to train the classifier on for "
                      f"reference {reference.get('name')!r}; pass classifier={{name: mnist, root: ...}}")


def evaluate_sampler(sampler, metrics: list, n: int, reference: dict[str, Any] | None = None,
                     extractor: str = "auto", seed: int = 0, **options: Any) -> list[MetricValue]:
    """Evaluate a sampler (``ganscape.sampling``): a GAN's generator or a translation direction. ``reference`` is a
    data section (default: the sampler's own, the target domain for translations). Options: ``reference_n`` (default
    n), ``inception_weights``, ``classifier`` (data section of the digit classifier), ``cache_dir``, ``use_cache``,
    ``batch``, ``device``."""
    if n < 2:
        raise ConfigError(f"--n: need at least 2 samples, got {n}")
    options.setdefault("device", str(sampler.device))
    if reference and reference != sampler.reference:
        if options.get("reference_data") is None:  # built on every rank: an error on one is raised on all
            options["reference_data"] = computed_on_every_rank(
                lambda: same_shape_data(reference, tuple(sampler.data_meta["shape"])))
        options.setdefault("reference_label", data_label(reference))
    return evaluate_samples(None, metrics, n, reference or sampler.reference, extractor,
                            sample_fn=lambda count, part: sampler.sample(count, seed=seed, part=part).float(),
                            data_meta=sampler.data_meta, **options)


def same_shape_data(reference: dict[str, Any], shape: tuple[int, ...]):
    """The reference's dataset, built once (its features are read from it too); a reference whose samples have
    another shape than the run's (grey against colour, another size) is one line before anything is generated; it
    was a traceback from the feature network or the FID (``mu`` shapes)."""
    from ganscape.data import build_dataset

    data = build_dataset(reference, key="reference")
    if tuple(data.shape) != shape:
        raise ConfigError(f"--reference: its samples have shape {tuple(data.shape)}, the run's {shape}; give a "
                          "reference of the run's channels and size (e.g. its size option)")
    return data


def evaluate_result(result, metrics: list, n: int, **options: Any) -> list[MetricValue]:
    """Evaluate a trained run in memory (``Trainer.fit``'s ``FitResult``), EMA weights when kept."""
    from ganscape.training.callbacks import eval_mode

    sampler = result.sampler()
    with eval_mode([sampler.G]):
        return evaluate_sampler(sampler, metrics, n, **options)


def evaluate_run(run_dir: str | Path, metrics: list, n: int, checkpoint: int | None = None, ema: bool = True,
                 device: str = "auto", **options: Any) -> list[Record]:
    """Load a run (newest checkpoint by default, EMA weights if kept), evaluate it -> records."""
    from ganscape.loading import load_sampler

    sampler, loaded = load_sampler(run_dir, checkpoint, ema=ema, device=device, with_run=True)
    values = evaluate_sampler(sampler, metrics, n, **options)
    return [v.record(str(run_dir), sampler.step, loaded.path.name) for v in values]


__all__ = ["blas_threads", "digit_reference", "evaluate_result", "evaluate_run", "evaluate_sampler", "evaluate_samples"]
