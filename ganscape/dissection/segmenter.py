"""Segmenters: images -> per-pixel concept labels, what GAN Dissection measures units against.

- ``scenes``: a small U-Net that ganscape trains on the procedural ``scenes`` data (``ganscape.data.scenes``) once per
  image size and caches in ``<cache>/segmenters/`` as safetensors, with its recipe and held-out per-concept IoU in
  a JSON file beside the weights. ``ganscape segmenter train scenes`` trains it ahead of time.
- ``module:function``: a user segmenter, e.g. a real scene parser for your data. ``function(images)`` takes
  (B, 3, H, W) float images in [-1, 1] and returns ``(labels, names)``: labels (B, H, W) integer concept ids or
  logits (B, K, H, W), and the K concept names. Outputs are checked on first use; a wrong shape, dtype or name
  count is one clear error.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganscape.paths import cache_root
from ganscape.registry import ConfigError

log = logging.getLogger(__name__)
CODE_VERSION = "unet-v1"
RECIPE = {"train": 2000, "test": 500, "steps": 600, "batch_size": 32, "lr": 2e-3, "seed": 0, "width": 32}


@dataclass
class Segmenter:
    """``segment(x (B, 3, H, W) in [-1, 1]) -> (B, H, W) int64 concept ids``; ``concepts`` their names; ``tag`` and
    ``fingerprint`` name it in results; ``features`` (B, D) pooled encoder features when it has any."""

    tag: str
    concepts: list[str]
    segment: Callable[[torch.Tensor], torch.Tensor]
    fingerprint: str = ""
    features: Callable[[torch.Tensor], torch.Tensor] | None = None
    iou: dict[str, float] | None = None

    def concept_id(self, name: str) -> int:
        if name not in self.concepts:
            raise ConfigError(f"--concept: unknown concept {name!r}; the {self.tag} segmenter knows: "
                              f"{', '.join(self.concepts)}")
        return self.concepts.index(name)


def conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class UNet(nn.Module):
    """Two down-sampling levels and back with skip connections: (B, 3, S, S) -> (B, K, S, S) logits."""

    def __init__(self, classes: int, width: int = 32):
        super().__init__()
        self.enc1, self.enc2 = conv_block(3, width), conv_block(width, 2 * width)
        self.mid = conv_block(2 * width, 4 * width)
        self.dec2, self.dec1 = conv_block(6 * width, 2 * width), conv_block(3 * width, width)
        self.head = nn.Conv2d(width, classes, 1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        return e1, e2, self.mid(F.max_pool2d(e2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1, e2, m = self.encode(x)
        d2 = self.dec2(torch.cat([F.interpolate(m, scale_factor=2.0), e2], 1))
        return self.head(self.dec1(torch.cat([F.interpolate(d2, scale_factor=2.0), e1], 1)))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4 * width) mean of the bottleneck features: a feature space for FID on scenes."""
        return self.encode(x)[2].mean(dim=(2, 3))


def per_concept_iou(pred: torch.Tensor, truth: torch.Tensor, classes: int) -> list[float]:
    """IoU of each class over all pixels (nan for a class absent from both)."""
    out = []
    for c in range(classes):
        p, t = pred == c, truth == c
        union = int((p | t).sum())
        out.append(float((p & t).sum()) / union if union else float("nan"))
    return out


def train_unet(images: torch.Tensor, labels: torch.Tensor, classes: int, recipe: dict[str, Any],
               progress: bool = True) -> UNet:
    """Adam on per-pixel cross-entropy, seeded; images (N, 3, S, S) in [-1, 1], labels (N, S, S)."""
    from tqdm.auto import tqdm

    gen = torch.Generator().manual_seed(recipe["seed"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe["seed"])
        net = UNet(classes, recipe["width"])
    opt = torch.optim.Adam(net.parameters(), lr=recipe["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, recipe["steps"])
    net.train()
    for _ in tqdm(range(recipe["steps"]), desc="segmenter", unit="step", disable=None if progress else True,
                  leave=False):
        idx = torch.randint(len(images), (recipe["batch_size"],), generator=gen)
        x, y = images[idx], labels[idx]
        if torch.rand((), generator=gen) < 0.5:  # scenes are left-right symmetric
            x, y = x.flip(-1), y.flip(-1)
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


def scene_segmenter(size: int = 32, recipe: dict[str, Any] | None = None, cache_dir: str | None = None,
                    device: str | torch.device = "cpu", progress: bool = True) -> Segmenter:
    """The scenes U-Net for ``size`` px images: from the cache, or trained once (about a minute at 32 px on CPU)."""
    from safetensors.torch import save_file

    from ganscape.data.images import to_tensor
    from ganscape.data.scenes import CONCEPTS, RENDER_VERSION, render_scenes
    from ganscape.utils.io import atomic_path, atomic_write_text, load_cached_tensors

    recipe = {**RECIPE, **(recipe or {})}
    size = max(16, 4 * round(size / 4))  # the U-Net halves the size twice; other sizes are resized to this one
    key = {"code": CODE_VERSION, "data": f"scenes-{RENDER_VERSION}", "size": size, "recipe": recipe}
    fingerprint = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_root(cache_dir) / "segmenters"
    weights, facts = folder / f"scenes{size}-{fingerprint}.safetensors", folder / f"scenes{size}-{fingerprint}.json"
    net = UNet(len(CONCEPTS), recipe["width"])
    meta = read_facts(facts, key)
    state = load_cached_tensors(weights) if weights.is_file() and meta is not None else None
    if state is not None:
        net.load_state_dict(state)
        net.eval()
    else:
        log.info("training the scenes segmenter at %d px (once; cached in %s)", size, folder)
        x, y = render_scenes(recipe["train"] + recipe["test"], size, seed=10_000 + recipe["seed"])
        x, y = to_tensor(x), torch.from_numpy(y)
        train_x, train_y, test_x, test_y = x[recipe["test"]:], y[recipe["test"]:], x[:recipe["test"]], y[:recipe["test"]]
        net = train_unet(train_x, train_y, len(CONCEPTS), recipe, progress)
        with torch.no_grad():
            pred = torch.cat([net(chunk).argmax(1) for chunk in test_x.split(100)])
        iou = dict(zip(CONCEPTS, per_concept_iou(pred, test_y, len(CONCEPTS))))
        meta = {"key": key, "iou": iou, "mean_iou": float(np.nanmean(list(iou.values()))),
                "held_out_images": recipe["test"]}
        with atomic_path(weights) as tmp:
            save_file(net.state_dict(), str(tmp))
        atomic_write_text(facts, json.dumps(meta, indent=1, sort_keys=True))
        log.info("scenes segmenter: held-out mean IoU %.3f (%s)", meta["mean_iou"],
                 ", ".join(f"{k} {v:.2f}" for k, v in iou.items()))
    net = net.to(device)

    def native(images: torch.Tensor) -> torch.Tensor:
        x = images.to(device).float()
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return x

    @torch.no_grad()
    def segment(images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, H, W) labels at the images' own size."""
        logits = net(native(images))
        if logits.shape[-2:] != images.shape[-2:]:
            logits = F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)
        return logits.argmax(1)

    @torch.no_grad()
    def features(images: torch.Tensor) -> torch.Tensor:
        return net.pooled(native(images))

    iou = {c: meta["iou"][c] for c in CONCEPTS}  # in concept order
    return Segmenter(f"scenes{size}", list(CONCEPTS), segment, fingerprint, features, iou)


def read_facts(path, key: dict[str, Any]) -> dict[str, Any] | None:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("key") == key else None


def user_segmenter(spec: str, size: int = 8, channels: int = 3, device: str | torch.device = "cpu") -> Segmenter:
    """``module:function`` -> a Segmenter whose outputs are checked on every call. It is tried once on a blank
    batch of the generator's images (``channels`` x ``size`` x ``size`` on ``device``), so a segmenter that cannot
    run on them fails before any work; whatever it raises is a ConfigError naming it."""
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise ConfigError(f"--segmenter: expected scenes or module:function, got {spec!r}")
    try:
        function = getattr(importlib.import_module(module), name)
    except Exception as err:  # the user's module may raise anything at import (SyntaxError, RuntimeError, ...)
        raise ConfigError(f"--segmenter: cannot load {spec!r} ({type(err).__name__}: {err})") from None

    def call(images: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
        try:
            output = function(images)
        except Exception as err:
            raise ConfigError(f"--segmenter: {spec} raised {type(err).__name__} on a batch of shape "
                              f"{tuple(images.shape)}: {err}") from None
        return check_output(spec, images, output)

    def segment(images: torch.Tensor) -> torch.Tensor:
        labels, names = call(images)
        if names != first_names:
            raise ConfigError(f"--segmenter: {spec} returned concept names {names} after {first_names}; "
                              "a segmenter must name the same concepts on every call")
        return labels

    _, first_names = call(torch.zeros(1, channels, size, size, device=device))
    return Segmenter(f"user:{spec}", first_names, segment, hashlib.sha256(spec.encode()).hexdigest()[:16])


def check_output(spec: str, images: torch.Tensor, output: Any) -> tuple[torch.Tensor, list[str]]:
    """A user segmenter's ``(labels or logits, names)`` -> (labels (B, H, W) int64, names); ConfigError otherwise."""
    where = f"--segmenter: {spec} returned"
    if not (isinstance(output, tuple) and len(output) == 2):
        raise ConfigError(f"{where} {type(output).__name__}; expected a pair (labels or logits, concept names)")
    labels, names = output
    if not (isinstance(names, (list, tuple)) and names and all(isinstance(n, str) for n in names)):
        raise ConfigError(f"{where} names {names!r}; expected a non-empty list of concept names")
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"{where} the concept name {twice!r} more than once; each concept needs its own name")
    if not isinstance(labels, torch.Tensor):
        raise ConfigError(f"{where} labels of type {type(labels).__name__}; expected a torch tensor")
    b, _, h, w = images.shape
    if labels.is_floating_point():
        if labels.shape != (b, len(names), h, w):
            raise ConfigError(f"{where} logits of shape {tuple(labels.shape)}; expected (B, K, H, W) = "
                              f"({b}, {len(names)}, {h}, {w}) for {len(names)} names")
        return labels.argmax(1), list(names)
    if labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise ConfigError(f"{where} labels of dtype {labels.dtype}; expected integer ids or float logits")
    if labels.shape != (b, h, w):
        raise ConfigError(f"{where} labels of shape {tuple(labels.shape)}; expected (B, H, W) = ({b}, {h}, {w})")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= len(names)):
        raise ConfigError(f"{where} label ids outside 0..{len(names) - 1} for {len(names)} names")
    return labels.long(), list(names)


def build_segmenter(spec: str, size: int, device: str | torch.device = "cpu", progress: bool = True,
                    channels: int = 3) -> Segmenter:
    """``scenes`` (the U-Net for ``size`` px RGB) or ``module:function`` (for ``channels`` x ``size`` px images)."""
    if spec == "scenes":
        return scene_segmenter(size, device=device, progress=progress)
    return user_segmenter(spec, size, channels, device)
