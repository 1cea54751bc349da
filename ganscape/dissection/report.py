"""dissect.json and dissect.html: what ``ganscape dissect`` writes.

The page is self-contained (images inlined, every text escaped): per layer, side by side, a bar chart of how many
units match each concept and, for each labelled unit (best IoU first), its top-activating samples with the region
where the unit exceeds its threshold outlined in yellow."""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ganscape.dissection.dissect import generate, latents, recording
from ganscape.utils.html import SCRIPT, esc, img, png_base64
from ganscape.utils.images import to_uint8
from ganscape.utils.io import atomic_write_text

UNITS_SHOWN = 24  # labelled units pictured per layer
PALETTE = ("#4e79a7", "#59a14f", "#edc948", "#bab0ac", "#2f6b2f", "#e15759", "#9c755f", "#76b7b2", "#b07aa1",
           "#ff9da7", "#f28e2b")
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
.layers{display:grid;gap:24px;align-items:start} .layer{min-width:0}
.unit{display:flex;gap:8px;align-items:center;margin:4px 0;font-size:12px} .unit span{min-width:150px}
.unit img{image-rendering:pixelated;height:64px} .muted{color:#666} svg text{font-size:11px}
"""


@torch.no_grad()
def outlined_strips(sampler, result: dict[str, Any], layer: str) -> dict[int, bytes]:
    """PNG strips of each shown unit's top-activating samples, the region above its threshold outlined. The
    samples are drawn again exactly as the dissection drew them (same latents, conditions, batches and noise)."""
    units = sorted((u for u in result["layers"][layer]["units"] if u["label"]), key=lambda u: -u["iou"])[:UNITS_SHOWN]
    needed = sorted({i for u in units for i in u["top_images"]})
    if not needed:
        return {}
    z, y = latents(sampler, result["n"], result["seed"], result.get("labels"))
    size = result["batch"]
    images, acts = {}, {}
    with recording(sampler.G, [layer]) as outputs:
        for start in sorted({i // size * size for i in needed}):
            part = slice(start, min(start + size, result["n"]))
            drawn = generate(sampler, z, y, part, result["seed"]).cpu()
            for i in (i for i in needed if part.start <= i < part.stop):
                images[i], acts[i] = drawn[i - start], outputs[layer][i - start].float().cpu()
    scale = max(1, 64 // next(iter(images.values())).shape[-1])
    strips = {}
    for unit in units:
        tiles = []
        for i in unit["top_images"]:
            up = F.interpolate(acts[i][None, unit["unit"]:unit["unit"] + 1], size=images[i].shape[-2:],
                               mode="bilinear", align_corners=False)[0, 0]
            tiles.append(outline(to_uint8(images[i][None])[0], (up > unit["threshold"]).numpy(), scale))
        buffer = io.BytesIO()
        Image.fromarray(np.concatenate(tiles, axis=1)).save(buffer, format="PNG")
        strips[unit["unit"]] = buffer.getvalue()
    return strips


def outline(image: np.ndarray, mask: np.ndarray, scale: int) -> np.ndarray:
    """(S, S, C) uint8 and (S, S) bool -> (S*scale, S*scale, 3) with the mask's boundary in yellow."""
    big = np.repeat(np.repeat(image, scale, 0), scale, 1)
    big = np.repeat(big, 3, 2) if big.shape[2] == 1 else big.copy()
    m = torch.from_numpy(np.repeat(np.repeat(mask, scale, 0), scale, 1))[None, None].float()
    eroded = -F.max_pool2d(-m, 3, stride=1, padding=1)
    edge = (m - eroded)[0, 0].bool().numpy()
    big[edge] = (255, 230, 0)
    return big


def bar_chart(counts: dict[str, int], concepts: list[str]) -> str:
    """Horizontal SVG bars: units per concept."""
    rows = [(c, counts.get(c, 0)) for c in concepts]
    top = max([n for _, n in rows] + [1])
    height = 18 * len(rows) + 4
    bars = []
    for i, (concept, n) in enumerate(rows):
        width = 180 * n / top
        colour = PALETTE[i % len(PALETTE)]
        bars.append(f'<text x="0" y="{18 * i + 14}">{esc(concept)}</text>'
                    f'<rect x="70" y="{18 * i + 3}" width="{width:.1f}" height="13" fill="{colour}"></rect>'
                    f'<text x="{74 + width:.1f}" y="{18 * i + 14}">{n}</text>')
    return f'<svg class="bars" width="290" height="{height}" role="img">{"".join(bars)}</svg>'


def layer_html(name: str, layer: dict[str, Any], concepts: list[str], strips: dict[int, bytes]) -> str:
    labelled = sorted((u for u in layer["units"] if u["label"]), key=lambda u: -u["iou"])
    parts = [f'<section class="layer" id="layer-{esc(name)}"><h2>{esc(name)}</h2>',
             f'<p class="muted">{layer["channels"]} units, {layer["size"][0]} x {layer["size"][1]}; '
             f'{len(labelled)} labelled</p>', bar_chart(layer["units_per_concept"], concepts)]
    for unit in labelled[:UNITS_SHOWN]:
        caption = f'unit {unit["unit"]} &middot; {esc(unit["label"])} &middot; IoU {unit["iou"]:.3f}'
        picture = img(png_base64(strips[unit["unit"]]), f"unit {unit['unit']}") if unit["unit"] in strips else ""
        parts.append(f'<div class="unit"><span>{caption}</span>{picture}</div>')
    if len(labelled) > UNITS_SHOWN:
        parts.append(f'<p class="muted">... and {len(labelled) - UNITS_SHOWN} more in dissect.json</p>')
    return "".join(parts) + "</section>"


def page(result: dict[str, Any], strips: dict[str, dict[int, bytes]]) -> str:
    concepts = result["segmenter"]["concepts"]
    layers = result["layers"]
    head = (f'<h1 id="dissect-title">GAN Dissection of {esc(result.get("run", "a generator"))}</h1>'
            f'<p class="muted">step {esc(result.get("step", "?"))}, {result["n"]} samples, segmenter '
            f'{esc(result["segmenter"]["tag"])}, threshold {esc(result["quantile"])}, a unit is labelled when its IoU '
            f'with a concept exceeds {result["iou_threshold"]} (Bau et al., ICLR 2019)</p>')
    body = "".join(layer_html(name, layer, concepts, strips.get(name, {})) for name, layer in layers.items())
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>dissect</title><style>{STYLE}</style>'
            f'<script>{SCRIPT}</script></head><body>{head}'
            f'<div class="layers" style="grid-template-columns:repeat({len(layers)},minmax(320px,1fr))">{body}</div>'
            '</body></html>')


def write_outputs(out_dir: str | Path, result: dict[str, Any], sampler) -> tuple[Path, Path]:
    """Write dissect.json and dissect.html into ``out_dir`` (each atomically)."""
    out = Path(out_dir)
    strips = {name: outlined_strips(sampler, result, name) for name in result["layers"]}
    atomic_write_text(out / "dissect.json", json.dumps(result, indent=1))
    atomic_write_text(out / "dissect.html", page(result, strips))
    return out / "dissect.json", out / "dissect.html"
