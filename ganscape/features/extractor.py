"""The common extractor interface and ``auto`` resolution (see ``ganscape.features``).

Feature networks are built once per process: ``build_extractor`` keeps the extractors it built (the few newest,
``MAX_KEPT``) keyed by everything that selects the network — the resolved name, the classifier's data section as it
trains on it and its training recipe, the Inception weights file (path, size, modification time), the cache folder
and the device — so a study worker loads (and, at debug level, announces) the digit classifier or reads the
Inception weights once, not once per checkpoint. Networks are only ever used in eval mode without gradients, so
sharing one changes no number. ``cached=False`` builds afresh; ``clear_extractors()`` forgets them (tests)."""
from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable

import numpy as np
import torch

from ganscape.registry import ConfigError
from ganscape.utils.logs import warn_once

EXTRACTOR_NAMES = ("auto", "lenet", "inception", "raw", "scenes")
MAX_KEPT = 4


@dataclass
class Extractor:
    """``features(x) -> (B, D)``; ``logits(x) -> (B, C)`` or None when there is no classifier head; ``device``: where
    the network runs (metrics computed from its features may run there too)."""

    tag: str
    fingerprint: str
    features: Callable[[torch.Tensor], torch.Tensor]
    logits: Callable[[torch.Tensor], torch.Tensor] | None = None
    device: str = "cpu"


_kept: OrderedDict[Hashable, Extractor] = OrderedDict()
_lock = threading.Lock()
log = logging.getLogger("ganscape.metrics")


def clear_extractors() -> None:
    """Forget the extractors this process has built."""
    with _lock:
        _kept.clear()


def resolve_name(name: str, data_shape: tuple[int, ...], inception_weights: str | None) -> str:
    if name not in EXTRACTOR_NAMES:
        raise ConfigError(f"--extractor: unknown extractor {name!r}; valid: {', '.join(EXTRACTOR_NAMES)}")
    if name != "auto":
        check_fits(name, tuple(data_shape))
        return name
    if len(data_shape) == 1:
        return "raw"
    if data_shape[0] == 1:
        return "lenet"
    if inception_weights:
        return "inception"
    raise ConfigError(f"--extractor: colour images {tuple(data_shape)} need the FID Inception network; "
                      "pass --inception-weights PATH (pytorch-fid's pt_inception-2015-12-05 weights)")


def check_fits(name: str, shape: tuple[int, ...], option: str = "--extractor") -> None:
    """Refuse a network that cannot read samples of ``shape``: an image network for vectors, the Inception or
    scene network for images that are not RGB (LeNet reads RGB as grey). ``option`` is what the user set."""
    if name in ("raw", "auto"):
        return
    if len(shape) != 3:
        raise ConfigError(f"{option}: {name} reads images, but these samples are vectors of shape {shape}; "
                          "valid here: raw, auto")
    if name == "lenet" and shape[0] not in (1, 3):
        raise ConfigError(f"{option}: lenet reads 1- or 3-channel images, but these samples have shape {shape}; "
                          "valid here: raw")
    if name in ("inception", "scenes") and shape[0] != 3:
        raise ConfigError(f"{option}: {name} reads colour images, but these samples have shape {shape}; "
                          "valid here: lenet, raw, auto")


def build_extractor(name: str, data_shape: tuple[int, ...], reference: dict[str, Any],
                    inception_weights: str | None = None, classifier: dict[str, Any] | None = None,
                    cache_dir: str | None = None, device: str | torch.device = "cpu", cached: bool = True) -> Extractor:
    """Build extractor ``name`` for samples of ``data_shape``; ``classifier`` is the data
    section the digit classifier trains on (default: ``reference``). With ``cached`` (the default) a network this
    process has already built with the same settings is reused."""
    name = resolve_name(name, data_shape, inception_weights)
    if inception_weights and name != "inception":
        warn_once(log, ("inception_weights", name, str(inception_weights)),
                  "warning: --inception-weights %s is not used: these samples are scored with the %s features",
                  inception_weights, name)
    if name == "raw":
        return Extractor("raw", "raw", lambda x: x.flatten(1).double())
    key = kept_key(name, data_shape, reference, inception_weights, classifier, cache_dir, device) if cached else None
    if key is not None:
        with _lock:
            if key in _kept:
                _kept.move_to_end(key)
                return _kept[key]
    extractor = build_network(name, data_shape, reference, inception_weights, classifier, cache_dir, device)
    if key is not None:
        with _lock:
            _kept[key] = extractor
            while len(_kept) > MAX_KEPT:
                _kept.popitem(last=False)
    return extractor


def kept_key(name: str, data_shape: tuple[int, ...], reference: dict[str, Any], inception_weights: str | None,
             classifier: dict[str, Any] | None, cache_dir: str | None, device: str | torch.device) -> Hashable | None:
    """What selects the network ``name`` would be built from (None: do not keep it)."""
    from ganscape.paths import cache_root

    common = (name, str(cache_root(cache_dir)), str(torch.device(device)))
    if name == "lenet":
        from ganscape.features import lenet

        section = lenet.classifier_section(classifier or reference)
        return common + (json.dumps(section, sort_keys=True, default=str), json.dumps(lenet.RECIPE, sort_keys=True))
    if name == "scenes":
        from ganscape.dissection import segmenter

        return common + (tuple(data_shape), json.dumps(segmenter.RECIPE, sort_keys=True, default=str))
    if name == "inception" and inception_weights:
        file = Path(inception_weights).expanduser()
        if not file.is_file():
            return None  # building reports the missing file
        stat = file.stat()
        return common + (str(file.resolve()), stat.st_size, stat.st_mtime_ns)
    return None


def build_network(name: str, data_shape: tuple[int, ...], reference: dict[str, Any], inception_weights: str | None,
                  classifier: dict[str, Any] | None, cache_dir: str | None, device: str | torch.device) -> Extractor:
    device_name = str(torch.device(device))
    if name == "scenes":
        from ganscape.dissection.segmenter import scene_segmenter

        seg = scene_segmenter(data_shape[-1], cache_dir=cache_dir, device=device)
        return Extractor(f"seg-{seg.tag}", seg.fingerprint, seg.features, device=device_name)
    if name == "lenet":
        from ganscape.features.lenet import digit_classifier

        model = digit_classifier(classifier or reference, cache_dir=cache_dir, device=device)
        return Extractor(model.tag, model.fingerprint, model.features, model.logits, device_name)
    from ganscape.features.inception import load_fid_inception

    if not inception_weights:
        raise ConfigError("--inception-weights: the inception extractor needs a weights file path")
    net = load_fid_inception(inception_weights, device=device)
    return Extractor(inception_tag(net.fingerprint), net.fingerprint, net.features,
                     net.logits if net.has_fc else None, device_name)


def inception_tag(fingerprint: str) -> str:
    """``inception`` for pytorch-fid's weights (the protocol of published FIDs); other weights' scores are not
    comparable with those and must not share their name: ``inception-`` and the weights' SHA-256 prefix."""
    from ganscape.features.inception import OFFICIAL_SHA256_PREFIX

    return "inception" if fingerprint.startswith(OFFICIAL_SHA256_PREFIX) else f"inception-{fingerprint[:8]}"


def require_probs(extractor: Extractor) -> None:
    """ConfigError unless ``extractor`` has a classifier head (IS-type metrics read its class probabilities)."""
    if extractor.logits is None:
        raise ConfigError(f"extractor {extractor.tag!r} has no classifier head; "
                          "IS-type metrics need lenet, or inception weights that include the fc layer")


@torch.inference_mode()
def extract(extractor: Extractor, x: torch.Tensor, batch: int = 500,
            want_features: bool = True, want_probs: bool = False) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Run an extractor over ``x`` in batches -> (features float64 (N, D), probs float64 (N, C)), without autograd
    (inference mode)."""
    if want_probs:
        require_probs(extractor)
    feats, probs = [], []
    for chunk in x.split(batch):
        if want_features:
            feats.append(extractor.features(chunk).double().cpu())
        if want_probs:
            probs.append(torch.softmax(extractor.logits(chunk).double(), dim=1).cpu())
    return (torch.cat(feats).numpy() if feats else None), (torch.cat(probs).numpy() if probs else None)
