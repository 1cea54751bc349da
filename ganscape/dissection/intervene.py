"""Interventions: switch units off (ablation) or on (insertion) and measure what the picture loses or gains.

At the layer, the chosen units' activations r become r' = (1 - a) r + a v, with a the region mask at the layer's
resolution (1 everywhere by default; a rectangle in [0, 1] image coordinates otherwise), v = 0 for ablation and, for
insertion, the unit's typical activation where the concept is present (its mean over the pixels the segmenter labels
with the concept, at the layer's resolution). The average causal effect (ACE) of the edit on a concept is the mean,
over the same latents drawn with and without the edit, of the change in the share of pixels the segmenter labels
with the concept, with a 95% confidence interval: one edit against the unedited generator. Bau et al. 2019 (section
3.2) define the effect of units as insertion against ablation, E[s_c(inserted)] - E[s_c(ablated)]; that is the
difference of our insert and ablate ACEs on the same latents."""
from __future__ import annotations

import json
import logging
import math
import random
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ganscape.dissection.dissect import Layer, batches, ci95, dissect, generate, latents, ranked_units, recording, resolve_layers
from ganscape.dissection.segmenter import Segmenter
from ganscape.registry import ConfigError

log = logging.getLogger(__name__)
EDIT_FORMAT = "ganscape-edit"


def region_mask(region: tuple[float, float, float, float] | None, height: int, width: int) -> torch.Tensor | None:
    """(1, 1, h, w) float mask of the cells whose centres lie in the rectangle x0, y0, x1, y1 (fractions of the
    image); None for the whole image."""
    if region is None:
        return None
    x0, y0, x1, y1 = check_region(region)
    ys = (torch.arange(height) + 0.5) / height
    xs = (torch.arange(width) + 0.5) / width
    inside = ((ys >= y0) & (ys < y1))[:, None] & ((xs >= x0) & (xs < x1))[None, :]
    return inside.float()[None, None]


def edited_pixels(region: tuple[float, float, float, float] | None, layer: Layer,
                  size: tuple[int, int]) -> torch.Tensor | None:
    """(1, 1, H, W) mask of the image pixels under the layer cells an edit of ``region`` changes (nearest upsampling
    of ``region_mask`` at the layer's resolution): what "inside the region" measures. Pixel centres in the region
    instead could be none at all for a narrow region that holds a cell centre, reporting an inside effect of 0."""
    mask = region_mask(region, layer.height, layer.width)
    return None if mask is None else F.interpolate(mask, size=size, mode="nearest")


def check_region(region) -> tuple[float, float, float, float]:
    if not isinstance(region, (list, tuple)) or len(region) != 4 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in region):
        raise ConfigError(f"--region: expected x0,y0,x1,y1, got {region!r}")
    x0, y0, x1, y1 = (float(v) for v in region)
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise ConfigError(f"--region: {x0:g},{y0:g},{x1:g},{y1:g} must lie in [0, 1] with x0 < x1 and y0 < y1")
    return x0, y0, x1, y1


def layer_region(region: tuple[float, float, float, float] | None, layer: Layer):
    """``region``, checked to hold the centre of at least one of ``layer``'s cells: an edit of no cell would change
    nothing and report an effect of exactly 0."""
    mask = region_mask(region, layer.height, layer.width)
    if mask is not None and not mask.any():
        x0, y0, x1, y1 = check_region(region)
        raise ConfigError(f"--region: {x0:g},{y0:g},{x1:g},{y1:g} holds the centre of no cell of layer {layer.name} "
                          f"({layer.height} x {layer.width}); make it at least 1/{layer.width} wide and "
                          f"1/{layer.height} high, around a cell centre ((i + 0.5) / {layer.width})")
    return region


def edit_hook(units: list[int], values: torch.Tensor | None = None,
              region: tuple[float, float, float, float] | None = None):
    """A forward hook that makes a layer output r' = (1 - a) r + a v on ``units`` (v = 0 when ``values`` is None)."""
    index = torch.as_tensor(units, dtype=torch.long)
    target = torch.zeros(len(units)) if values is None else values.float()

    def hook(_module, _inputs, out: torch.Tensor) -> torch.Tensor:
        out = out.clone()
        a = region_mask(region, out.shape[2], out.shape[3])
        a = torch.ones(1, 1, 1, 1) if a is None else a
        a, idx = a.to(out.device, out.dtype), index.to(out.device)
        out[:, idx] = (1 - a) * out[:, idx] + a * target.to(out.device, out.dtype)[None, :, None, None]
        return out

    return hook


@contextmanager
def edited(G: nn.Module, layer: str, units: list[int], values: torch.Tensor | None = None,
           region: tuple[float, float, float, float] | None = None) -> Iterator[None]:
    """While inside, G's ``layer`` is edited (``edit_hook``)."""
    handle = dict(G.named_modules())[layer].register_forward_hook(edit_hook(units, values, region))
    try:
        yield
    finally:
        handle.remove()


def check_units(units: list[int], layer: Layer) -> list[int]:
    bad = [u for u in units if not 0 <= u < layer.channels]
    if bad:
        raise ConfigError(f"--units: layer {layer.name} has units 0..{layer.channels - 1}; got {bad[0]}")
    return units


def parse_units(spec: str) -> tuple[str, int] | list[int]:
    """``top:K`` / ``random:K`` -> (kind, K); ``3,17,40`` -> the unit numbers; ConfigError for anything else
    (checked before any work, as ``top:K`` needs a ranking dissection first)."""
    kind, sep, count = spec.partition(":")
    if sep and kind in ("top", "random"):
        if not count.isdigit() or int(count) < 1:
            raise ConfigError(f"--units: {spec!r}: expected {kind}:K with K >= 1")
        return kind, int(count)
    try:
        units = [int(u) for u in spec.split(",") if u.strip()]
    except ValueError:
        raise ConfigError(f"--units: expected top:K, random:K or unit numbers like 3,17,40; got {spec!r}") from None
    if not units:
        raise ConfigError(f"--units: expected top:K, random:K or unit numbers like 3,17,40; got {spec!r}")
    twice = next((u for u in units if units.count(u) > 1), None)
    if twice is not None:  # "ablate 3 units" of 1,1,1 was one unit
        raise ConfigError(f"--units: unit {twice} is given more than once in {spec!r}; give each unit once")
    return units


def check_choice(spec: str, layer: Layer) -> tuple[str, int] | list[int]:
    """``parse_units(spec)`` checked against the layer: unit numbers in range, K of ``top:K``/``random:K`` at most
    its units (checked before any work: ``top:K`` needs a ranking dissection first)."""
    parsed = parse_units(spec)
    if isinstance(parsed, list):
        return check_units(parsed, layer)
    kind, k = parsed
    if k > layer.channels:  # "top:99" of 64 units edited the whole layer without a word
        raise ConfigError(f"--units: {spec!r}: layer {layer.name} has {layer.channels} units; give {kind}:K with K "
                          f"<= {layer.channels}")
    return parsed


def choose_units(spec: str, layer: Layer, ranking: list[int] | None, seed: int = 0) -> list[int]:
    """``top:K`` (best IoU with the concept first), ``random:K`` (seeded) or ``3,17,40``."""
    parsed = check_choice(spec, layer)
    if isinstance(parsed, list):
        return parsed
    kind, k = parsed
    if kind == "top":
        return list(ranking[:k])
    return sorted(random.Random(seed).sample(range(layer.channels), k))


@torch.no_grad()
def concept_activation(sampler, layer: Layer, segmenter: Segmenter, concept: str, n: int = 200, seed: int = 0,
                       batch: int = 50, labels: Any = None) -> torch.Tensor:
    """(U,) each unit's mean activation over the layer cells covered by ``concept`` (area-weighted)."""
    k = segmenter.concept_id(concept)
    z, y = latents(sampler, n, seed, labels)
    total, weight = torch.zeros(layer.channels, dtype=torch.float64), 0.0
    with recording(sampler.G, [layer.name]) as outputs:
        for part in batches(n, batch):
            images = generate(sampler, z, y, part, seed)
            present = (segmenter.segment(images) == k).float()[:, None].cpu()
            act = outputs[layer.name].detach().float().cpu()
            share = F.adaptive_avg_pool2d(present, act.shape[2:])  # (B, 1, h, w) concept share of each cell
            total += (act * share).sum(dim=(0, 2, 3)).double()
            weight += float(share.sum())
    if weight == 0:
        raise ConfigError(f"--concept: the segmenter found no {concept!r} in {n} samples of this generator; "
                          "there is no typical activation to insert")
    return (total / weight).float()


@torch.no_grad()
def concept_fractions(sampler, segmenter: Segmenter, concept: int, z: torch.Tensor, y: torch.Tensor | None,
                      batch: int = 50, region: torch.Tensor | None = None,
                      seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample: the share of pixels labelled ``concept`` (N,), and of those inside ``region`` (N,) when given
    (a (1, 1, S, S) mask at image resolution)."""
    shares, inside = [], []
    for part in batches(len(z), batch):
        seg = segmenter.segment(generate(sampler, z, y, part, seed)).cpu() == concept
        shares.append(seg.float().mean(dim=(1, 2)))
        if region is not None:
            inside.append((seg.float() * region[0, 0]).sum(dim=(1, 2)) / seg.shape[1] / seg.shape[2])
    return torch.cat(shares), (torch.cat(inside) if inside else torch.empty(0))


def causal_effect(sampler, layer: Layer, units: list[int], concept: str, segmenter: Segmenter, mode: str = "ablate",
                  n: int = 500, seed: int = 0, region: tuple[float, float, float, float] | None = None,
                  values: torch.Tensor | None = None, labels: Any = None) -> dict[str, Any]:
    """The average causal effect of editing ``units`` of ``layer`` on ``concept`` over n latents."""
    if mode not in ("ablate", "insert"):
        raise ConfigError(f"--mode: expected ablate or insert, got {mode!r}")
    k = segmenter.concept_id(concept)
    layer_region(region, layer)
    z, y = latents(sampler, n, seed + 1, labels)  # other latents than those the units were ranked on
    if mode == "insert" and values is None:
        values = concept_activation(sampler, layer, segmenter, concept, seed=seed, labels=labels)
    chosen = None if values is None else values[torch.as_tensor(units, dtype=torch.long)]
    image_region = edited_pixels(region, layer, tuple(sampler.data_meta["shape"][1:]))
    before, before_in = concept_fractions(sampler, segmenter, k, z, y, region=image_region, seed=seed + 1)
    with edited(sampler.G, layer.name, units, chosen if mode == "insert" else None, region):
        after, after_in = concept_fractions(sampler, segmenter, k, z, y, region=image_region, seed=seed + 1)
    change = after - before
    out = {"layer": layer.name, "concept": concept, "mode": mode, "units": units, "n": n,
           "region": list(region) if region else None, "ace": float(change.mean()), "ci95": ci95(change),
           "share_before": float(before.mean()), "share_after": float(after.mean()),
           "removed_share": float(1 - after.sum() / before.sum()) if float(before.sum()) > 0 else None}
    if region is not None:
        outside = (after - after_in) - (before - before_in)
        out.update({"ace_inside_region": float((after_in - before_in).mean()), "ace_outside_region": float(outside.mean())})
    return out


def effect_curve(sampler, layer: Layer, concept: str, segmenter: Segmenter, ranking: list[int], mode: str = "ablate",
                 n: int = 200, seed: int = 0, ks: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64),
                 labels: Any = None, region: tuple[float, float, float, float] | None = None) -> dict[str, Any]:
    """ACE for k = 1, 2, 4, ... units: the top-k by IoU against a random k (the paper's figure 5), edited inside
    ``region`` (the whole image when None)."""
    ks = tuple(k for k in ks if k <= layer.channels)
    values = (concept_activation(sampler, layer, segmenter, concept, seed=seed, labels=labels)
              if mode == "insert" else None)
    rows = []
    for k in ks:
        top = causal_effect(sampler, layer, ranking[:k], concept, segmenter, mode, n, seed, region, values, labels)
        rand_units = sorted(random.Random(seed + k).sample(range(layer.channels), k))
        rand = causal_effect(sampler, layer, rand_units, concept, segmenter, mode, n, seed, region, values, labels)
        rows.append({"k": k, "top": top["ace"], "top_ci95": top["ci95"], "random": rand["ace"],
                     "random_ci95": rand["ci95"], "top_units": ranking[:k], "random_units": rand_units})
    return {"layer": layer.name, "concept": concept, "mode": mode, "n": n,
            "region": list(region) if region else None, "curve": rows}


def rank_for_concept(sampler, layer: Layer, concept: str, segmenter: Segmenter, n: int, seed: int,
                     quantile: float | str = 0.01, progress: bool = True, labels: Any = None) -> list[int]:
    """Every unit of the layer ordered by IoU with the concept, from a dissection of n samples."""
    segmenter.concept_id(concept)
    result = dissect(sampler, [layer.name], segmenter, n=n, quantile=quantile, seed=seed, labels=labels,
                     progress=progress)
    return ranked_units(result, layer.name, concept)


# ----- edits saved as files -----------------------------------------------------------------------------------------
def edit_record(layer: str, units: list[int], mode: str = "ablate", values: list[float] | None = None,
                region: list[float] | None = None, note: str = "", found_on: dict[str, Any] | None = None
                ) -> dict[str, Any]:
    """An edit file's contents. ``found_on``: the run, step and weights (``ema``/``raw``) the units were chosen on
    (``apply_edit`` warns when the generator it edits is another)."""
    return {"format": EDIT_FORMAT, "version": 1, "layer": layer, "units": list(units), "mode": mode,
            "values": values, "region": region, "note": note, "found_on": found_on}


def read_edit(path: str | Path) -> dict[str, Any]:
    """An edit file written by ``repair`` (or by hand); ConfigError when it is not one."""
    try:
        edit = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"--edit: cannot read {path} as an edit file ({err})") from None
    units = edit.get("units") if isinstance(edit, dict) else None
    if (not isinstance(edit, dict) or edit.get("format") != EDIT_FORMAT or not isinstance(edit.get("layer"), str)
            or not isinstance(units, list) or not all(isinstance(u, int) and not isinstance(u, bool) for u in units)):
        raise ConfigError(f"--edit: {path} is not a ganscape edit file (format {EDIT_FORMAT!r}, a layer name and a "
                          "list of unit numbers)")
    twice = next((u for u in units if units.count(u) > 1), None)
    if twice is not None:  # as --units refuses 1,1,1
        raise ConfigError(f"--edit: {path}: unit {twice} is listed more than once; list each unit once")
    values = edit.get("values")
    largest = torch.finfo(torch.float32).max  # the values are applied in float32: 1e39 became inf there
    if edit.get("mode") not in ("ablate", "insert") or (edit["mode"] == "insert" and not (
            isinstance(values, list) and len(values) == len(units)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= largest
                    for v in values))):
        raise ConfigError(f"--edit: {path}: mode must be ablate, or insert with one finite number per unit (at most "
                          f"{largest:.4g} in size, float32's largest)")
    return edit


def apply_edit(sampler, edit: dict[str, Any], path: str | Path = "the edit"):
    """Edit the sampler's generator for good (a forward hook); returns the hook's handle (``.remove()`` undoes it).
    An edit that does not fit the generator (``path`` names its file in the error) raises ConfigError."""
    try:
        layer = resolve_layers(sampler, [edit["layer"]])[0]
        units = check_units([int(u) for u in edit["units"]], layer)
        region = layer_region(check_region(edit["region"]), layer) if edit.get("region") is not None else None
    except ConfigError as err:
        reason = str(err).split(": ", 1)[-1]  # drop the --layer/--units/--region of the interactive commands
        raise ConfigError(f"--edit: {path} does not fit this generator: {reason}") from None
    warn_if_found_elsewhere(sampler, edit, path)
    values = torch.tensor(edit["values"], dtype=torch.float32) if edit["mode"] == "insert" else None
    return dict(sampler.G.named_modules())[layer.name].register_forward_hook(edit_hook(units, values, region))


def warn_if_found_elsewhere(sampler, edit: dict[str, Any], path: str | Path) -> None:
    """A warning when the edit's units were chosen on another step or other weights (``ema``/``raw``) than the
    sampler's: a unit's number names a channel, and what that channel draws changes as training goes on. The run
    itself is not compared (a run folder may have been moved); an edit file that records nothing (written by hand,
    or before edits recorded where they were found) is taken as it is."""
    found = edit.get("found_on")
    if not isinstance(found, dict):
        return
    here = {key: getattr(sampler, key, None) for key in ("step", "weights")}  # a translation sampler has no weights
    differs = [key for key in here if key in found and here[key] is not None and found[key] != here[key]]
    if differs:
        log.warning("warning: --edit: %s was found on %s; this generator is %s: its units may draw other things here",
                    path, ", ".join(f"{key} {found[key]}" for key in ("run", *here) if key in found),
                    ", ".join(f"{key} {here[key]}" for key in differs))
