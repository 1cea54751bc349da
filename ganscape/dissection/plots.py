"""Pictures of interventions: the same latents before and after an edit, and the effect curve."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ganscape.dissection.dissect import Layer, generate, latents
from ganscape.dissection.intervene import edited
from ganscape.utils.images import make_grid, save_image

PAIRS = 8


@torch.no_grad()
def before_after(sampler, layer: Layer, units: list[int], values: torch.Tensor | None, region, seed: int,
                 path: Path, labels=None) -> None:
    """A grid: the first row as drawn, the second row with the edit (same latents)."""
    z, y = latents(sampler, PAIRS, seed + 1, labels)
    before = generate(sampler, z, y, slice(0, PAIRS), seed + 1)
    chosen = None if values is None else values[torch.as_tensor(units, dtype=torch.long)]
    with edited(sampler.G, layer.name, units, chosen, region):
        after = generate(sampler, z, y, slice(0, PAIRS), seed + 1)
    save_image(make_grid(torch.cat([before, after]).cpu(), nrow=PAIRS), path)


def curve_plot(curve: dict[str, Any], path: Path) -> None:
    """Average causal effect against the number of units, top-k by IoU and random-k, with 95% intervals."""
    from ganscape.utils.images import pyplot
    from ganscape.utils.io import atomic_path

    plt = pyplot()  # a concept's name ("$5 bill") is plain text

    rows = curve["curve"]
    ks = [r["k"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=120)
    for key, label in (("top", "top-k units by IoU"), ("random", "random k units")):
        ax.errorbar(ks, [r[key] for r in rows], yerr=[r[f"{key}_ci95"] for r in rows], marker="o", capsize=3,
                    label=label)
    ax.set_xscale("log", base=2)
    ax.axhline(0, color="#999", linewidth=0.8)
    ax.set_xlabel("units edited")
    ax.set_ylabel(f"change in {curve['concept']} pixel share")
    ax.set_title(f"{curve['mode']} on {curve['layer']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
