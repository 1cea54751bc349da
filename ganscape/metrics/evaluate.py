"""Runners: evaluate a trained generator (or a run folder) on a list of metrics."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from ganscape.features.extractor import build_extractor, extract
from ganscape.metrics.reference import reference_features
from ganscape.metrics.registry import Inputs, Metric, build_metric
from ganscape.registry import ConfigError

log = logging.getLogger(__name__)


def evaluate_samples(fake: torch.Tensor | None, metrics: list, n: int, reference: dict[str, Any],
                     extractor: str = "auto", *, sample_fn=None, data_shape: tuple[int, ...] | None = None,
                     toy_info: dict[str, Any] | None = None, reference_n: int | None = None,
                     inception_weights: str | None = None, classifier: dict[str, Any] | None = None,
                     cache_dir: str | None = None, use_cache: bool = True, device: str = "cpu",
                     batch: int = 500) -> dict[str, float]:
    """Core runner. Samples come from ``fake`` (a tensor) or ``sample_fn(n) -> tensor``
    (used when a metric fixes its own n, e.g. the toy protocol's 2500)."""
    specs: list[Metric] = [build_metric(m) for m in metrics]
    if fake is not None:
        data_shape = tuple(fake.shape[1:])

    def samples(count: int) -> torch.Tensor:
        if fake is not None:
            if len(fake) < count:
                raise ConfigError(f"--n: {count} samples requested but only {len(fake)} given")
            return fake[:count]
        return sample_fn(count)

    out: dict[str, float] = {}
    toy_specs = [m for m in specs if m.needs == "toy"]
    for metric in toy_specs:
        info = toy_info or {}
        if "centers" not in info or len(data_shape) != 1:
            raise ConfigError(f"metrics: {metric.name!r} needs 2-D toy mixture data with known centres "
                              f"(ring8, grid25); got data of shape {data_shape}")
        count = metric.n or n
        if fake is not None:
            count = min(count, len(fake))  # given samples: use what exists; the name says how many
        inputs = Inputs(toy_samples=samples(count), centers=torch.as_tensor(info["centers"]), std=float(info["std"]))
        out.update({metric.key(k, count, "toy"): v for k, v in metric.compute(inputs).items()})

    stacked = [m for m in specs if m.needs == "stacked"]
    if stacked:
        x = samples(n)
        if x.ndim != 4 or x.shape[1] != 3:
            raise ConfigError(f"metrics: stacked_modes needs 3-channel stacked digit images, got shape {tuple(x.shape[1:])}")
        lenet = build_extractor("lenet", (1,) + tuple(x.shape[2:]), digit_reference(reference, classifier),
                                cache_dir=cache_dir, device=device)
        per_channel = x.reshape(-1, 1, *x.shape[2:])
        _, probs = extract(lenet, per_channel, batch, want_features=False, want_probs=True)
        inputs = Inputs(stacked_digits=torch.from_numpy(probs.argmax(1)).reshape(-1, 3))
        for metric in stacked:
            out.update({metric.key(k, n, lenet.tag): v for k, v in metric.compute(inputs).items()})

    feature_specs = [m for m in specs if m.needs in ("features", "probs")]
    if feature_specs:
        ext = build_extractor(extractor, data_shape, reference, inception_weights, classifier, cache_dir, device)
        want_features = any(m.needs == "features" for m in feature_specs)
        want_probs = any(m.needs == "probs" for m in feature_specs)
        fake_f, fake_p = extract(ext, samples(n), batch, want_features, want_probs)
        real_f = None
        if want_features:
            real_f, _ = reference_features(reference, reference_n or n, ext, seed=0, cache_dir=cache_dir,
                                           use_cache=use_cache)
        inputs = Inputs(fake_features=fake_f, real_features=real_f, fake_probs=fake_p)
        for metric in feature_specs:
            out.update({metric.key(k, n, ext.tag): v for k, v in metric.compute(inputs).items()})
    return out


def digit_reference(reference: dict[str, Any], classifier: dict[str, Any] | None) -> dict[str, Any]:
    """The 1-channel digit data a Stacked-MNIST classifier trains on."""
    if classifier:
        return classifier
    if reference.get("name") in ("mnist", "digits"):
        return reference
    if "mnist" in str(reference.get("name")):
        section = {"name": "mnist", "split": reference.get("split", "train")}
        if "root" in reference:
            section["root"] = reference["root"]
        return section
    raise ConfigError(f"stacked_modes: cannot tell which digit data to train the classifier on for "
                      f"reference {reference.get('name')!r}; pass classifier={{name: mnist, root: ...}}")


def evaluate_generator(gen, metrics: list, n: int, reference: dict[str, Any] | None = None,
                       extractor: str = "auto", **options: Any) -> dict[str, float]:
    """Evaluate a ``ganscape.loading.TrainedGenerator``.

    ``reference`` is a data config section (default: the run's own ``config["data"]``).
    Options: ``seed`` (sampling, default 0), ``reference_n`` (default n), ``inception_weights``,
    ``classifier`` (data section for the digit classifier), ``cache_dir``, ``use_cache``, ``batch``.
    Returns ``{protocol_name: value}`` (KID/IS-type metrics also ``..._std``).
    """
    if n < 2:
        raise ConfigError(f"--n: need at least 2 samples, got {n}")
    reference = reference or gen.config["data"]
    seed = options.pop("seed", 0)
    device = options.pop("device", str(gen.device))
    return evaluate_samples(None, metrics, n, reference, extractor,
                            sample_fn=lambda count: gen.sample(count, seed=seed).float(),
                            data_shape=tuple(gen.data_meta["shape"]), toy_info=gen.data_meta.get("info"),
                            device=device, **options)


def evaluate_run(run_dir: str | Path, metrics: list, n: int, checkpoint: int | None = None,
                 **options: Any) -> dict[str, float]:
    """Load a run's generator (newest checkpoint by default, EMA weights if kept) and evaluate it."""
    from ganscape.loading import load_generator

    gen = load_generator(run_dir, checkpoint, ema=options.pop("ema", True), device=options.pop("device", "auto"))
    return evaluate_generator(gen, metrics, n, **options)


def evaluate_training(run, step: int) -> dict[str, float]:
    """Periodic evaluation inside training (``eval.every``, ``eval.metrics``, ``eval.n``).

    Uses the sampling generator (EMA when kept) in eval mode and restores its mode; all
    randomness is forked from, or independent of, the training RNG, so training is unchanged.
    """
    from ganscape.loading import TrainedGenerator
    from ganscape.training.checkpoint import data_meta

    ecfg = run.config["eval"]
    G = run.sampling_generator()
    was_training = G.training
    gen = TrainedGenerator(G.eval(), run.prior, run.config, step, data_meta(run.dataset), run.device)
    try:
        return evaluate_generator(gen, ecfg["metrics"], ecfg["n"])
    finally:
        G.train(was_training)


__all__ = ["evaluate_generator", "evaluate_run", "evaluate_samples", "evaluate_training"]
