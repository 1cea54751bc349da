"""The common extractor interface and ``auto`` resolution (see ``ganscape.features``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ganscape.registry import ConfigError

EXTRACTOR_NAMES = ("auto", "lenet", "inception", "raw", "scenes")


@dataclass
class Extractor:
    """``features(x) -> (B, D)``; ``logits(x) -> (B, C)`` or None when there is no classifier head."""

    tag: str
    fingerprint: str
    features: Callable[[torch.Tensor], torch.Tensor]
    logits: Callable[[torch.Tensor], torch.Tensor] | None = None


def resolve_name(name: str, data_shape: tuple[int, ...], inception_weights: str | None) -> str:
    if name not in EXTRACTOR_NAMES:
        raise ConfigError(f"--extractor: unknown extractor {name!r}; valid: {', '.join(EXTRACTOR_NAMES)}")
    if name != "auto":
        return name
    if len(data_shape) == 1:
        return "raw"
    if data_shape[0] == 1:
        return "lenet"
    if inception_weights:
        return "inception"
    raise ConfigError(f"--extractor: colour images {tuple(data_shape)} need the FID Inception network; "
                      "pass --inception-weights PATH (pytorch-fid's pt_inception-2015-12-05 weights)")


def build_extractor(name: str, data_shape: tuple[int, ...], reference: dict[str, Any],
                    inception_weights: str | None = None, classifier: dict[str, Any] | None = None,
                    cache_dir: str | None = None, device: str | torch.device = "cpu") -> Extractor:
    """Build extractor ``name`` for samples of ``data_shape``; ``classifier`` is the data
    section the digit classifier trains on (default: ``reference``)."""
    name = resolve_name(name, data_shape, inception_weights)
    if name == "raw":
        return Extractor("raw", "raw", lambda x: x.flatten(1).double())
    if name == "scenes":
        from ganscape.dissection.segmenter import scene_segmenter

        if len(data_shape) != 3 or data_shape[0] != 3:
            raise ConfigError(f"--extractor: scenes features need colour images, got shape {tuple(data_shape)}")
        seg = scene_segmenter(data_shape[-1], cache_dir=cache_dir, device=device)
        return Extractor(f"seg-{seg.tag}", seg.fingerprint, seg.features)
    if name == "lenet":
        from ganscape.features.lenet import digit_classifier

        model = digit_classifier(classifier or reference, cache_dir=cache_dir, device=device)
        return Extractor(model.tag, model.fingerprint, model.features, model.logits)
    from ganscape.features.inception import load_fid_inception

    if not inception_weights:
        raise ConfigError("--inception-weights: the inception extractor needs a weights file path")
    net = load_fid_inception(inception_weights, device=device)
    return Extractor("inception", net.fingerprint, net.features, net.logits if net.has_fc else None)


@torch.no_grad()
def extract(extractor: Extractor, x: torch.Tensor, batch: int = 500,
            want_features: bool = True, want_probs: bool = False) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Run an extractor over ``x`` in batches -> (features float64 (N, D), probs float64 (N, C))."""
    if want_probs and extractor.logits is None:
        raise ConfigError(f"extractor {extractor.tag!r} has no classifier head; "
                          "IS-type metrics need lenet, or inception weights that include the fc layer")
    feats, probs = [], []
    for chunk in x.split(batch):
        if want_features:
            feats.append(extractor.features(chunk).double().cpu())
        if want_probs:
            probs.append(torch.softmax(extractor.logits(chunk).double(), dim=1).cpu())
    return (torch.cat(feats).numpy() if feats else None), (torch.cat(probs).numpy() if probs else None)
