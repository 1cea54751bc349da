"""Dissection: which units of a generator layer draw which concept (Bau et al., "GAN Dissection", ICLR 2019).

For each chosen layer, forward hooks read the unit activations r_u (B, U, h, w) while the generator draws n samples
(the model code is not touched). Pass 1 keeps a streaming histogram of every unit's activations and segments every
generated image into concepts. Pass 2 draws the same samples again, upsamples each r_u bilinearly to the
segmentation size, thresholds it at t_u and accumulates, over all samples, the IoU of the mask {r_u > t_u} with each
concept's pixels. A unit is labelled with its best concept when that IoU exceeds 0.05 (the paper's threshold).

Thresholds: ``quantile=q`` takes t_u as the top-q quantile of the unit's activations (NetDissect's rule; q = 0.01
keeps the top 1%); ``quantile="iqr"`` is the rule of the GAN Dissection paper: per unit and concept, the threshold
among the top 0.1% ... 20% quantiles that maximises the information quality ratio I(mask; concept) / H(mask, concept).
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ganscape.dissection.quantile import StreamingQuantile
from ganscape.dissection.segmenter import Segmenter
from ganscape.registry import ConfigError
from ganscape.runtime import side_rng
from ganscape.training.callbacks.core import eval_mode

IOU_THRESHOLD = 0.05
IQR_LEVELS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)  # top fractions tried by the iqr rule


@dataclass(frozen=True)
class Layer:
    """A module of G with a (C, h, w) feature map: its first call's shape, and how many times one forward of G runs
    it (a module used twice, one ``nn.ReLU`` after two convolutions, has no one map to dissect or edit)."""

    name: str
    channels: int
    height: int
    width: int
    calls: int = 1


# ----- reading layers with forward hooks ---------------------------------------------------------------------
@contextmanager
def recording(G: nn.Module, names: list[str]) -> Iterator[dict[str, torch.Tensor]]:
    """While inside, every forward of G stores the outputs of the named modules in the yielded dict."""
    modules = dict(G.named_modules())
    outputs: dict[str, torch.Tensor] = {}
    # a copy: a later in-place module (ReLU(inplace=True)) would otherwise change what was recorded
    handles = [modules[name].register_forward_hook(lambda m, i, o, name=name: outputs.__setitem__(name, o.detach().clone()))
               for name in names]
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def list_layers(sampler) -> list[Layer]:
    """Every module of the generator whose output is a feature map (B, C, h, w), in forward order."""
    require_image_generator(sampler)
    calls: list[tuple[str, Any]] = []
    hooks = [module.register_forward_hook(lambda m, i, o, name=name: calls.append((name, o)))
             for name, module in sampler.G.named_modules() if name]
    try:
        with eval_mode([sampler.G]):
            sampler.sample(2, seed=0)
    finally:
        for hook in hooks:
            hook.remove()
    layers: dict[str, Layer] = {}
    for name, out in calls:
        if isinstance(out, torch.Tensor) and out.dim() == 4:
            layers[name] = replace(layers[name], calls=layers[name].calls + 1) if name in layers else \
                Layer(name, out.shape[1], out.shape[2], out.shape[3])
    return list(layers.values())


def require_image_generator(sampler, command: str = "dissect") -> None:
    """Refuse a translation run or a vector generator; errors start with ``command``, the one the user typed."""
    if getattr(sampler, "kind", "gan") == "translation":
        raise ConfigError(f"{command}: this is a translation run; dissection and its edits apply to GAN generators")
    shape = tuple(sampler.data_meta["shape"])
    if len(shape) != 3:
        raise ConfigError(f"{command}: this generator makes {shape[0]}-D vectors "
                          f"({sampler.config['generator']['name']}); dissection needs an image generator with "
                          "convolutional layers")


def resolve_layers(sampler, names: list[str]) -> list[Layer]:
    available = {layer.name: layer for layer in list_layers(sampler)}
    if not available:
        raise ConfigError("--layer: this generator has no layer with a (C, h, w) feature map to dissect")
    for name in names:
        if name not in available:
            raise ConfigError(f"--layer: unknown layer {name!r}; layers with feature maps: {', '.join(available)}")
    if not names:
        raise ConfigError(f"--layer: name at least one layer; layers with feature maps: {', '.join(available)}")
    for name in names:
        if available[name].calls > 1:  # its hooks would record the last call and edit every call
            raise ConfigError(f"--layer: {name} runs {available[name].calls} times in one forward of the generator "
                              "(one module used at several places), so it has no one feature map to dissect or "
                              "edit; give a module it feeds or that feeds it")
    return [available[name] for name in names]


# ----- the two passes ---------------------------------------------------------------------------------------------
def latents(sampler, n: int, seed: int, labels: Any = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The n latents (and conditions) every pass and every intervention draws, for a seed."""
    with side_rng(seed, sampler.device):
        return sampler.prior.sample(n, sampler.device), sampler.labels(n, labels)


def batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


@torch.no_grad()
def generate(sampler, z: torch.Tensor, y: torch.Tensor | None, part: slice, seed: int = 0) -> torch.Tensor:
    """G(z[part], y[part]) with each image's own noise inputs (StyleGAN's; ``GeneratorSampler.noise``), so every pass
    and every before/after pair sees the same images up to the edit. G runs in eval mode (its own mode restored
    after): a generator a script built and left in training mode would update its batch-norm statistics and
    StyleGAN's average w, and mix styles at random, so the passes would see other images and dissecting it would
    change it."""
    with eval_mode([sampler.G]):
        return sampler.G(z[part], None if y is None else y[part], **sampler.noise(seed, part.start or 0, part.stop))


def threshold_levels(quantile: float | str) -> tuple[float, ...]:
    if quantile == "iqr":
        return IQR_LEVELS
    if not isinstance(quantile, (int, float)) or not 0 < quantile < 1:
        raise ConfigError(f"--quantile: expected a top fraction in (0, 1) such as 0.01, or iqr; got {quantile!r}")
    return (float(quantile),)


def dissect(sampler, layers: list[str], segmenter: Segmenter, n: int = 2000, quantile: float | str = 0.01,
            batch: int = 50, seed: int = 0, labels: Any = None, progress: bool = True) -> dict[str, Any]:
    """Dissect ``layers`` of a sampler's generator (``ganscape.sampling.GeneratorSampler``, or anything with ``G``,
    ``prior``, ``labels`` and ``data_meta``) -> the dissect.json content. See the module docstring."""
    from tqdm.auto import tqdm

    chosen = resolve_layers(sampler, layers)
    levels = threshold_levels(quantile)
    z, y = latents(sampler, n, seed, labels)
    sketches = {layer.name: StreamingQuantile(layer.channels) for layer in chosen}
    peaks = {layer.name: torch.zeros(n, layer.channels) for layer in chosen}
    segmentation = None
    bar = tqdm(total=2 * n, desc="dissect", unit="img", disable=None if progress else True, leave=False)
    with recording(sampler.G, [layer.name for layer in chosen]) as outputs:
        for part in batches(n, batch):
            seg = segmenter.segment(generate(sampler, z, y, part, seed)).cpu()
            if segmentation is None:
                segmentation = torch.zeros(n, *seg.shape[1:], dtype=torch.int16)
            segmentation[part] = seg.to(torch.int16)
            for layer in chosen:
                act = outputs[layer.name].detach().float().cpu()
                sketches[layer.name].add(act.transpose(0, 1).reshape(layer.channels, -1))
                peaks[layer.name][part] = act.amax(dim=(2, 3))
            bar.update(part.stop - part.start)
        thresholds = {name: torch.stack([s.quantile(1 - level) for level in levels], 1).float()
                      for name, s in sketches.items()}  # (U, L)
        counts = {layer.name: Counts(layer.channels, len(segmenter.concepts), len(levels)) for layer in chosen}
        for part in batches(n, batch):
            generate(sampler, z, y, part, seed)
            seg = segmentation[part].long()
            for layer in chosen:
                counts[layer.name].add(outputs[layer.name].detach().float().cpu(), seg, thresholds[layer.name])
            bar.update(part.stop - part.start)
    bar.close()
    return {"method": "GAN Dissection (Bau et al. 2019)", "n": n, "seed": seed, "labels": labels, "batch": batch,
            "quantile": quantile,
            "iou_threshold": IOU_THRESHOLD, "segmenter": {"tag": segmenter.tag, "concepts": segmenter.concepts,
                                                          "held_out_iou": segmenter.iou},
            "concept_pixel_share": concept_shares(segmentation, len(segmenter.concepts), segmenter.concepts),
            "layers": {layer.name: layer_result(layer, counts[layer.name], thresholds[layer.name], levels,
                                                segmenter.concepts, peaks[layer.name]) for layer in chosen}}


class Counts:
    """Pixel counts over all samples, per unit, concept and threshold level: intersections (U, K, L), unit mask sizes
    (U, L), concept sizes (K) and the total."""

    def __init__(self, units: int, concepts: int, levels: int):
        self.inter = torch.zeros(units, concepts, levels, dtype=torch.float64)
        self.mask = torch.zeros(units, levels, dtype=torch.float64)
        self.concept = torch.zeros(concepts, dtype=torch.float64)
        self.total = 0.0
        self.concepts = concepts

    def add(self, act: torch.Tensor, seg: torch.Tensor, thresholds: torch.Tensor, chunk: int = 8) -> None:
        """act (B, U, h, w), seg (B, S, S) concept ids, thresholds (U, L)."""
        size = seg.shape[-2:]
        for part in batches(len(act), chunk):
            up = F.interpolate(act[part], size=size, mode="bilinear", align_corners=False)  # (b, U, S, S)
            onehot = F.one_hot(seg[part], self.concepts).reshape(-1, self.concepts).float()  # (P, K)
            values = up.transpose(0, 1).reshape(up.shape[1], -1)  # (U, P)
            for level in range(thresholds.shape[1]):
                mask = (values > thresholds[:, level:level + 1]).float()  # float32 counts are exact below 2^24
                self.inter[:, :, level] += (mask @ onehot).double()
                self.mask[:, level] += mask.sum(dim=1).double()
            self.concept += onehot.sum(dim=0).double()
            self.total += onehot.shape[0]

    def iou(self) -> torch.Tensor:
        """(U, K, L) intersection over union."""
        union = self.mask[:, None, :] + self.concept[None, :, None] - self.inter
        return torch.where(union > 0, self.inter / union.clamp(min=1), torch.zeros_like(union))

    def iqr(self) -> torch.Tensor:
        """(U, K, L) information quality ratio I(mask; concept) / H(mask, concept) of the pixel distributions."""
        t = max(self.total, 1.0)
        p11 = self.inter / t
        p10 = self.mask[:, None, :] / t - p11
        p01 = self.concept[None, :, None] / t - p11
        p00 = (1 - p11 - p10 - p01).clamp(min=0)
        joint = torch.stack([p00, p01, p10, p11]).clamp(min=0)
        h_joint = -(joint * torch.log(joint.clamp(min=1e-300))).sum(0)
        pm, pc = p10 + p11, p01 + p11
        h_m = -(entropy_terms(pm) + entropy_terms(1 - pm))
        h_c = -(entropy_terms(pc) + entropy_terms(1 - pc))
        return torch.where(h_joint > 0, (h_m + h_c - h_joint) / h_joint.clamp(min=1e-300), torch.zeros_like(h_joint))


def entropy_terms(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(min=0)
    return p * torch.log(p.clamp(min=1e-300))


def layer_result(layer: Layer, counts: Counts, thresholds: torch.Tensor, levels: tuple[float, ...],
                 concepts: list[str], peaks: torch.Tensor) -> dict[str, Any]:
    """Per unit: threshold, best concept (when IoU > 0.05), IoU, the IoU of every concept, top images; per concept:
    its units, best first."""
    iou = counts.iou()  # (U, K, L)
    choice = counts.iqr().argmax(dim=2) if len(levels) > 1 else torch.zeros(iou.shape[:2], dtype=torch.long)
    chosen_iou = iou.gather(2, choice[..., None])[..., 0]  # (U, K)
    units, by_concept = [], {c: [] for c in concepts}
    for u in range(layer.channels):
        best = int(chosen_iou[u].argmax())
        label = concepts[best] if float(chosen_iou[u, best]) > IOU_THRESHOLD else None
        level = int(choice[u, best])
        units.append({"unit": u, "label": label, "iou": round(float(chosen_iou[u, best]), 6),
                      "threshold": float(thresholds[u, level]), "quantile": levels[level],
                      "iou_per_concept": {c: round(float(chosen_iou[u, k]), 6) for k, c in enumerate(concepts)},
                      "top_images": peaks[:, u].topk(min(4, len(peaks))).indices.tolist()})
        if label is not None:
            by_concept[label].append(u)
    for concept, members in by_concept.items():
        members.sort(key=lambda u: -units[u]["iou"])
    return {"channels": layer.channels, "size": [layer.height, layer.width], "units": units,
            "concepts": {c: m for c, m in by_concept.items() if m},
            "units_per_concept": {c: len(m) for c, m in by_concept.items() if m}}


def concept_shares(segmentation: torch.Tensor, classes: int, concepts: list[str]) -> dict[str, float]:
    shares = torch.bincount(segmentation.flatten().long(), minlength=classes).double()
    shares /= max(float(shares.sum()), 1.0)
    return {c: round(float(s), 6) for c, s in zip(concepts, shares)}


def ranked_units(result: dict[str, Any], layer: str, concept: str) -> list[int]:
    """Every unit of ``layer`` ordered by its IoU with ``concept`` (best first), labelled or not."""
    units = result["layers"][layer]["units"]
    return sorted(range(len(units)), key=lambda u: (-units[u]["iou_per_concept"][concept], u))


def ci95(values: torch.Tensor) -> float:
    """Half-width of a normal 95% confidence interval of the mean."""
    n = len(values)
    return float(1.96 * values.double().std(unbiased=True) / math.sqrt(n)) if n > 1 else float("nan")
