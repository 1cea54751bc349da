"""A small LeNet-style digit classifier that ganscape trains itself: no download.

It supplies class logits (Inception Score, modified IS, Stacked-MNIST mode counts) and its 128-d penultimate
activations (FID, KID, precision/recall) for digit images.

Protocol: the classifier is trained on a labelled digit dataset (a ``data`` config section, e.g. MNIST or
scikit-learn digits) at 28 x 28. A fixed seeded permutation holds out ``holdout`` (20%) of that data for the
reported accuracy and trains on the rest; with only the MNIST *test* split available that is 8,000 training and
2,000 held-out images. Weights are cached under ``$GANSCAPE_CACHE/classifiers`` (default ``~/.cache/ganscape``) in a
safetensors file whose name holds a hash of the data tensors, the training settings and ``CODE_VERSION``, so a
change of any of them trains a new classifier."""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganscape.data.meta import data_label
from ganscape.paths import cache_root
from ganscape.registry import ConfigError
from ganscape.utils.io import atomic_path, folder_lock, load_cached_tensors

log = logging.getLogger(__name__)
CODE_VERSION = "lenet-v1"  # bump when the architecture or training recipe changes
INPUT_SIZE = 28
FEATURE_DIM = 128
# Training recipe (part of the cache key).
RECIPE = {"steps": 1500, "batch_size": 64, "lr": 2e-3, "shift": 2, "holdout": 0.2, "seed": 0}
# Options of a data section that select a subset; the classifier always uses the full data.
SUBSET_OPTIONS = ("limit", "per_class", "seed")


def relu_pool(h: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(F.relu(h), 2)`` of (B, C, H, W) -> (B, C, H // 2, W // 2): the same values (a zero may carry
    the other sign, which no later sum or product sees). Without autograd (scoring) it is the maximum of the four
    strided 2 x 2 views, then ReLU (the two commute): about 8 times faster on a CPU than max_pool2d, whose NCHW kernel
    dominated the classifier's time. Training keeps max_pool2d, whose gradient goes to one element of a tie where
    ``torch.maximum`` would split it, so cached classifiers stay bit-exact."""
    if torch.is_grad_enabled() and h.requires_grad:
        return F.max_pool2d(F.relu(h), 2)
    h = h[..., : h.shape[-2] // 2 * 2, : h.shape[-1] // 2 * 2]
    rows = torch.maximum(h[..., 0::2, :], h[..., 1::2, :])
    return torch.maximum(rows[..., 0::2], rows[..., 1::2]).relu_()


class DigitNet(nn.Module):
    """conv5(16) -> pool -> conv5(32) -> pool -> fc(128) -> fc(classes); input (B, 1, 28, 28)."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)
        self.conv2 = nn.Conv2d(16, 32, 5)
        self.fc1 = nn.Linear(32 * 5 * 5, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        h = relu_pool(self.conv1(x))        # 28 -> 14
        h = relu_pool(self.conv2(h))        # 14 -> 10 -> 5
        return F.relu(self.fc1(h.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.embed(x))


def to_input(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) images in [-1, 1] of any size -> (B, 1, 28, 28) (antialiased bilinear). Colour images
    (B, 3, H, W), e.g. digits stored in a colour format, are first made grey as the mean of their channels."""
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"the digit classifier takes (B, 1, H, W) or (B, 3, H, W) images, got shape {tuple(x.shape)}")
    x = x.float()
    if x.shape[1] == 3:
        x = x.mean(dim=1, keepdim=True)
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False,
                          antialias=x.shape[-1] > INPUT_SIZE)
    return x


class DigitClassifier(nn.Module):
    """A trained DigitNet with its provenance: ``tag`` (e.g. ``lenet-mnist``), ``accuracy``
    on the held-out images, ``fingerprint`` (the cache hash)."""

    def __init__(self, net: DigitNet, tag: str, accuracy: float, fingerprint: str):
        super().__init__()
        self.net = net.eval()
        self.tag, self.accuracy, self.fingerprint = tag, accuracy, fingerprint

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) in [-1, 1] -> (B, 10) logits."""
        return self.net(to_input(x.to(self.device)))

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) in [-1, 1] -> (B, 128) penultimate activations."""
        return self.net.embed(to_input(x.to(self.device)))

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device


def classifier_section(section: dict[str, Any]) -> dict[str, Any]:
    """The data section a classifier is trained on: ``section`` at 28 px without subsetting."""
    from ganscape.data import DATASETS

    if not isinstance(section, dict) or "name" not in section:
        raise ConfigError(f"classifier data: expected a data section with a 'name', got {section!r}")
    out = {k: v for k, v in section.items() if k not in SUBSET_OPTIONS}
    if "size" in DATASETS.get(out["name"], key="classifier.name").options():
        out["size"] = INPUT_SIZE
    return out


def data_hash(x: torch.Tensor, y: torch.Tensor) -> str:
    digest = hashlib.sha256(x.contiguous().numpy().tobytes())
    digest.update(y.contiguous().numpy().tobytes())
    return digest.hexdigest()


def load_labelled(section: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """All images and labels of a labelled 1-channel dataset (resized to 28 px)."""
    from ganscape.data import build_dataset

    ds = build_dataset(section, key="classifier")
    if not ds.is_image or ds.shape[0] != 1 or ds.num_classes < 2:
        raise ConfigError(f"classifier: dataset {section['name']!r} must hold labelled 1-channel images "
                          f"(got shape {ds.shape}, {ds.num_classes} classes); use mnist or digits")
    x, y = ds.get(torch.arange(len(ds)))
    if y is None:
        raise ConfigError(f"classifier: dataset {section['name']!r} has no labels")
    return to_input(x), y, ds.num_classes


def random_shift(x: torch.Tensor, shift: int, gen: torch.Generator) -> torch.Tensor:
    """Translate each image by up to ``shift`` pixels (zero = background -1 padding)."""
    if not shift:
        return x
    padded = F.pad(x, (shift,) * 4, value=-1.0)
    dx, dy = torch.randint(0, 2 * shift + 1, (2,), generator=gen).tolist()
    return padded[:, :, dy:dy + x.shape[-2], dx:dx + x.shape[-1]]


def train_net(x: torch.Tensor, y: torch.Tensor, classes: int, recipe: dict[str, Any]) -> DigitNet:
    """Adam on cross-entropy for ``recipe['steps']`` batches; all randomness from local seeds.

    Runs on one thread: for a net this small, more threads on a busy CPU only add overhead."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(recipe["seed"])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(recipe["seed"])
            net = DigitNet(classes)
        opt = torch.optim.Adam(net.parameters(), lr=recipe["lr"])
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, recipe["steps"])
        net.train()
        for _ in range(recipe["steps"]):
            idx = torch.randint(len(x), (recipe["batch_size"],), generator=gen)
            loss = F.cross_entropy(net(random_shift(x[idx], recipe["shift"], gen)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        return net.eval()
    finally:
        torch.set_num_threads(threads)


@torch.no_grad()
def accuracy(net: DigitNet, x: torch.Tensor, y: torch.Tensor) -> float:
    if len(x) == 0:
        return float("nan")
    pred = torch.cat([net(chunk).argmax(1) for chunk in x.split(1000)])
    return float((pred == y).double().mean())


def digit_classifier(dataset_section: dict[str, Any], cache_dir: str | os.PathLike | None = None,
                     recipe: dict[str, Any] | None = None, device: str | torch.device = "cpu") -> DigitClassifier:
    """The classifier for a digit dataset: loaded from the cache, or trained once and cached.

    ``recipe`` overrides training settings (tests use fewer steps); it is part of the hash. Concurrent processes
    (study workers) wait for the one that trains it, then load it."""
    section = classifier_section(dataset_section)
    recipe = {**RECIPE, **(recipe or {})}
    x, y, classes = load_labelled(section)
    key = {"code": CODE_VERSION, "data": data_hash(x, y), "recipe": recipe, "classes": classes}
    fingerprint = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    tag = "lenet" + data_label(section)  # lenet-mnist, lenet-mnist-test, lenet-digits-invert: the data it learnt
    path = cache_root(cache_dir) / "classifiers" / f"{tag}-{CODE_VERSION}-{fingerprint}.safetensors"
    with folder_lock(path.parent, wait=True):  # concurrent study workers: one trains, the others then load
        return cached_or_trained(path, key, fingerprint, tag, x, y, classes, recipe).to(device)


def cached_or_trained(path: Path, key: dict[str, Any], fingerprint: str, tag: str, x: torch.Tensor, y: torch.Tensor,
                      classes: int, recipe: dict[str, Any]) -> DigitClassifier:
    """The classifier cached at ``path`` when it was built with ``key``, else trained now and cached there."""
    from safetensors.torch import save_file

    state = load_cached_tensors(path) if path.exists() else None
    if state is not None:
        meta = json.loads(state.pop("__meta__").numpy().tobytes().decode()) if "__meta__" in state else {}
        if meta.get("key") == key:
            with torch.random.fork_rng(devices=[]):  # its initial weights are overwritten: keep the caller's RNG
                net = DigitNet(classes)
            net.load_state_dict(state)
            log.debug("digit classifier %s (cached %s): held-out accuracy %.4f on %d images",
                     tag, path.name, meta["accuracy"], meta["test"])
            return DigitClassifier(net, tag, meta["accuracy"], fingerprint)
        log.warning("classifier cache %s was built with other settings; retraining", path)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(recipe["seed"]))
    n_test = int(round(len(x) * recipe["holdout"]))
    train_idx, test_idx = perm[n_test:], perm[:n_test]
    log.info("training the %s digit classifier on %d images (once; cached in %s)", tag, len(train_idx), path.parent)
    net = train_net(x[train_idx], y[train_idx], classes, recipe)
    acc = accuracy(net, x[test_idx], y[test_idx])
    log.info("%s held-out accuracy: %.4f on %d images", tag, acc, len(test_idx))
    meta = json.dumps({"key": key, "accuracy": acc, "train": len(train_idx), "test": len(test_idx)})
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    state["__meta__"] = torch.frombuffer(bytearray(meta.encode()), dtype=torch.uint8)
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))
    return DigitClassifier(net, tag, acc, fingerprint)
