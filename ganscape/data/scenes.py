"""``scenes``: procedural outdoor scenes whose concepts are known pixel by pixel, for GAN Dissection.

Each image is drawn in this order, later shapes covering earlier ones: sky (a vertical blue gradient) above a random
horizon, grass below it, maybe a sun, 0-3 clouds (unions of ellipses), 0-3 trees (trunk and round canopy), 0-2 houses
(wall and roof, with a door and 1-2 windows). Position, scale, colour and count are random; every concept's colours
come from its own range, disjoint from the others', so a segmenter can learn them exactly. ``render_scenes`` returns
the images and the per-pixel concept ids (the ground-truth label maps); the dataset gives the images, with the
concept names in ``info["concepts"]``. Deterministic for a (seed, size, n); nothing is downloaded."""
from __future__ import annotations

import zipfile

import numpy as np

from ganscape.data.base import DATASETS, TensorDataset
from ganscape.data.images import to_tensor
from ganscape.registry import ConfigError, Count, Positive

RENDER_VERSION = "v1"  # part of the cache file name: change it when drawing changes
CONCEPTS = ("sky", "grass", "sun", "cloud", "tree", "house", "door", "window")
SKY, GRASS, SUN, CLOUD, TREE, HOUSE, DOOR, WINDOW = range(len(CONCEPTS))
# RGB ranges per part (low, high per channel); disjoint between concepts
COLOURS = {
    "sky": ((70, 140, 210), (130, 190, 255)), "grass": ((50, 150, 40), (100, 210, 80)),
    "sun": ((245, 190, 0), (255, 230, 40)), "cloud": ((225, 225, 230), (250, 250, 255)),
    "canopy": ((10, 70, 10), (40, 110, 40)), "trunk": ((110, 60, 20), (140, 80, 40)),
    "wall": ((200, 170, 120), (230, 200, 150)), "roof": ((150, 30, 30), (180, 50, 50)),
    "door": ((60, 30, 60), (80, 45, 90)), "window": ((140, 230, 230), (170, 255, 255)),
}


class Canvas:
    """One (S, S, 3) image and its (S, S) label map, with shapes painted by boolean masks."""

    def __init__(self, size: int, rng: np.random.Generator):
        self.size, self.rng = size, rng
        self.image = np.zeros((size, size, 3), np.float32)
        self.labels = np.zeros((size, size), np.int64)
        self.y, self.x = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5

    def colour(self, part: str) -> np.ndarray:
        low, high = COLOURS[part]
        return self.rng.uniform(low, high).astype(np.float32)

    def paint(self, mask: np.ndarray, part: str, concept: int, colour: np.ndarray | None = None) -> None:
        self.image[mask] = self.colour(part) if colour is None else colour
        self.labels[mask] = concept

    def rect(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        return (self.x >= x0) & (self.x < x1) & (self.y >= y0) & (self.y < y1)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
        return ((self.x - cx) / rx) ** 2 + ((self.y - cy) / ry) ** 2 <= 1.0


def draw_scene(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One scene: (uint8 (S, S, 3), int64 (S, S) concept ids)."""
    c, s = Canvas(size, rng), float(size)
    horizon = s * rng.uniform(0.45, 0.7)
    top, bottom = c.colour("sky"), c.colour("sky")
    t = np.clip(c.y / horizon, 0, 1)[..., None]
    c.image[:] = top * (1 - t) + np.maximum(top, bottom) * t  # lighter towards the horizon, same colour range
    c.paint(c.y >= horizon, "grass", GRASS)
    if rng.random() < 0.7:
        r = s * rng.uniform(0.06, 0.12)
        c.paint(c.ellipse(rng.uniform(r, s - r), rng.uniform(r, max(r + 1, horizon - r)), r, r), "sun", SUN)
    for _ in range(rng.integers(0, 4)):
        cx, cy, w = rng.uniform(0, s), rng.uniform(0.05 * s, 0.8 * horizon), s * rng.uniform(0.08, 0.16)
        mask = np.zeros_like(c.labels, dtype=bool)
        for _ in range(rng.integers(2, 4)):
            mask |= c.ellipse(cx + rng.uniform(-w, w), cy + rng.uniform(-0.3, 0.3) * w, w, 0.5 * w)
        c.paint(mask, "cloud", CLOUD)
    for _ in range(rng.integers(0, 4)):
        base, x = rng.uniform(horizon + 0.05 * s, 0.97 * s), rng.uniform(0.05 * s, 0.95 * s)
        trunk_w, trunk_h, r = s * rng.uniform(0.04, 0.07), s * rng.uniform(0.1, 0.2), s * rng.uniform(0.08, 0.14)
        c.paint(c.rect(x - trunk_w / 2, base - trunk_h, x + trunk_w / 2, base), "trunk", TREE)
        c.paint(c.ellipse(x, base - trunk_h - 0.7 * r, r, r), "canopy", TREE)
    for _ in range(rng.integers(0, 3)):
        draw_house(c, horizon)
    noisy = c.image + rng.normal(0, 2.0, c.image.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).round().astype(np.uint8), c.labels


def draw_house(c: Canvas, horizon: float) -> None:
    s, rng = float(c.size), c.rng
    w, h = s * rng.uniform(0.25, 0.35), s * rng.uniform(0.16, 0.25)
    x0, base = rng.uniform(0, s - w), rng.uniform(horizon + 0.05 * s, 0.98 * s)
    y0 = base - h
    c.paint(c.rect(x0, y0, x0 + w, base), "wall", HOUSE)
    roof_h = h * rng.uniform(0.5, 0.8)
    rise = np.clip((y0 - c.y) / roof_h, 0, None)  # 0 at the eaves, 1 at the ridge
    roof = (c.y < y0) & (c.y >= y0 - roof_h) & (np.abs(c.x - (x0 + w / 2)) <= (w / 2 + 0.05 * w) * (1 - rise))
    c.paint(roof, "roof", HOUSE)
    door_w, door_h = w * rng.uniform(0.2, 0.28), h * rng.uniform(0.45, 0.6)
    door_x = x0 + rng.uniform(0.1 * w, 0.9 * w - door_w)
    c.paint(c.rect(door_x, base - door_h, door_x + door_w, base), "door", DOOR)
    side = max(2.0, w * rng.uniform(0.14, 0.2))
    for _ in range(rng.integers(1, 3)):
        wx = x0 + rng.uniform(0.05 * w, 0.95 * w - side)
        if wx + side > door_x and wx < door_x + door_w:  # keep windows off the door
            continue
        wy = y0 + rng.uniform(0.15 * h, max(0.15 * h + 0.1, 0.5 * h - side / 2))
        c.paint(c.rect(wx, wy, wx + side, wy + side), "window", WINDOW)


def render_scenes(n: int, size: int = 32, seed: int = 0, cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``n`` scenes: (uint8 (n, S, S, 3), int64 (n, S, S) concept ids in ``CONCEPTS`` order). Scene i depends only on
    (seed, size, i). Rendered sets are cached in ``<cache>/scenes/`` (about 1 ms per 32 px scene to redo)."""
    from ganscape.paths import cache_root
    from ganscape.utils.io import atomic_path

    if size < 16:
        raise ConfigError(f"data.size: scenes need at least 16 px, got {size}")
    path = cache_root() / "scenes" / f"scenes-{RENDER_VERSION}-{size}px-n{n}-seed{seed}.npz"
    if cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as arrays:
                return arrays["images"], arrays["labels"].astype(np.int64)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # unreadable: render again
    images, labels = np.zeros((n, size, size, 3), np.uint8), np.zeros((n, size, size), np.int64)
    for i in range(n):
        images[i], labels[i] = draw_scene(size, np.random.default_rng([seed, size, i]))
    if cache:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, images=images, labels=labels.astype(np.uint8))
    return images, labels


@DATASETS.register("scenes", "procedural outdoor scenes with known concepts (sky, grass, sun, cloud, tree, house, "
                   "door, window) for GAN Dissection", citation="ganscape; concepts as in Bau et al. 2019")
def scenes(size: Positive = 32, n: Positive = 10_000, seed: Count = 0):
    """Images in [-1, 1], (3, size, size); ``info["concepts"]`` names the label-map ids."""
    images, _ = render_scenes(n, size, seed)
    return TensorDataset("scenes", to_tensor(images), info={"concepts": ",".join(CONCEPTS)})
