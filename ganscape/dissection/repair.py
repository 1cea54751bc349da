"""Artifact repair, a variant of Bau et al. 2019's artifact removal (which ranks units by the FID of the images that
activate each unit most): find the units whose ablation alone improves FID the most, and ablate the k most harmful
together. It costs one FID of n samples per unit of the layer, plus three.

Every unit of the layer is ablated in turn over the same n latents; the FID of those samples against the reference
features (the run's own data and feature extractor, protocol-named like any metric) minus the unedited FID is the
unit's effect. Up to k units with a negative effect (the most negative first) are ablated together, and FID is
measured without and with that edit on other latents than those the units were chosen on. The result is saved as
an edit file that ``ganscape sample --edit`` and ``ganscape eval --edit`` apply."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ganscape.dissection.dissect import Layer, batches, generate, latents
from ganscape.dissection.intervene import edit_record, edited
from ganscape.features.extractor import Extractor
from ganscape.metrics.fid import fid_from_features
from ganscape.metrics.registry import format_n


@torch.no_grad()
def sample_features(sampler, extractor: Extractor, z: torch.Tensor, y: torch.Tensor | None, seed: int,
                    batch: int = 100) -> np.ndarray:
    return np.concatenate([extractor.features(generate(sampler, z, y, part, seed)).double().cpu().numpy()
                           for part in batches(len(z), batch)])


def repair(sampler, layer: Layer, extractor: Extractor, real_features: np.ndarray, k: int = 20, n: int = 2000,
           seed: int = 0, progress: bool = True, labels: Any = None) -> dict[str, Any]:
    """Rank the units of ``layer`` by the FID change their ablation causes and ablate up to k of those whose
    ablation lowers it the most. Units are chosen on latents of ``seed``; the FIDs reported before and after are
    measured on other latents (``seed + 1``), so the improvement is not flattered by the choice."""
    from tqdm.auto import tqdm

    def fid(units: list[int], latent_seed: int) -> float:
        z, y = latents(sampler, n, latent_seed, labels)
        with edited(sampler.G, layer.name, units):
            return float(fid_from_features(real_features, sample_features(sampler, extractor, z, y, latent_seed)))

    base = fid([], seed)
    effects = [fid([u], seed) - base for u in tqdm(range(layer.channels), desc="repair", unit="unit",
                                                  disable=None if progress else True, leave=False)]
    harmful = [u for u in sorted(range(layer.channels), key=lambda u: effects[u]) if effects[u] < 0][:k]
    before, after = fid([], seed + 1), fid(harmful, seed + 1)
    protocol = f"fid{format_n(n)}_{extractor.tag}"
    return {"layer": layer.name, "metric": protocol, "n": n, "seed": seed, "k": len(harmful),
            "fid_before": before, "fid_after": after, "held_out_seed": seed + 1, "fid_selection_set": base,
            "ablated": harmful, "effects": {str(u): round(e, 6) for u, e in enumerate(effects)},
            "edit": edit_record(layer.name, harmful, "ablate",
                                note=f"repair: the {len(harmful)} units of {layer.name} whose ablation alone lowered "
                                     f"{protocol} the most on the selection latents; together, on held-out latents: "
                                     f"{before:.4g} -> {after:.4g}")}
