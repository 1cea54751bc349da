"""The FID Inception-v3 network (the TF 2015-12-05 graph as ported by pytorch-fid), weights from a file.

Layout: torchvision's Inception-v3 with the FID variants of its blocks — the average pools inside Mixed_5b-d (A),
Mixed_6b-e (C) and Mixed_7b (E_1) exclude padding (``count_include_pad=False``) and Mixed_7c (E_2) uses a max pool
in its pool branch. Preprocessing: images in [0, 1] -> bilinear resize to 299 x 299 (align_corners=False) -> 2x - 1.
Features: the 2048-d global average pool; logits: the 1008-way ``fc`` when the weights file holds it (Inception Score).

Module names equal torchvision's / pytorch-fid's state-dict keys (``Conv2d_1a_3x3.conv.weight``, ``fc.weight``,
``Mixed_7c.branch_pool.bn.running_var``, ...), so pytorch-fid's ``pt_inception-2015-12-05-*.pth`` loads directly
(with ``weights_only=True``); a safetensors file with the same keys also works. Nothing is downloaded."""
from __future__ import annotations

import logging
import os
import textwrap
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganscape.registry import ConfigError
from ganscape.utils.io import file_digest

OFFICIAL_SHA256_PREFIX = "6726825d"  # pt_inception-2015-12-05-6726825d.pth: torch.hub names carry the hash prefix
FID_SIZE = 299
FEATURE_DIM = 2048
FC_CLASSES = 1008


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (eps 1e-3) -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def avg_pool_exclusive(x):
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """Mixed_5b/c/d: 64 + 64 + 96 + pool_features channels."""

    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x):
        return torch.cat([self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
                          self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          self.branch_pool(avg_pool_exclusive(x))], 1)


class InceptionB(nn.Module):
    """Mixed_6a: grid reduction 35 -> 17; 384 + 96 + cin channels."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x):
        return torch.cat([self.branch3x3(x), self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):
    """Mixed_6b-e: factorised 7x7 convolutions; 4 x 192 channels."""

    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x):
        dbl = x
        for i in range(1, 6):
            dbl = getattr(self, f"branch7x7dbl_{i}")(dbl)
        return torch.cat([self.branch1x1(x), self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))), dbl,
                          self.branch_pool(avg_pool_exclusive(x))], 1)


class InceptionD(nn.Module):
    """Mixed_7a: grid reduction 17 -> 8; 320 + 192 + cin channels."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x):
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    """Mixed_7b (``max_pool=False``, FID E_1) and Mixed_7c (``max_pool=True``, FID E_2): 2048 channels."""

    def __init__(self, cin: int, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else avg_pool_exclusive(x)
        return torch.cat([self.branch1x1(x), self.branch3x3_2a(b3), self.branch3x3_2b(b3),
                          self.branch3x3dbl_3a(dbl), self.branch3x3dbl_3b(dbl), self.branch_pool(pooled)], 1)


def preprocess(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> (B, 3, 299, 299) in [-1, 1] (bilinear, align_corners=False)."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"FID Inception takes (B, 3, H, W) images, got shape {tuple(x.shape)}")
    return 2 * F.interpolate(x.float(), size=(FID_SIZE, FID_SIZE), mode="bilinear", align_corners=False) - 1


class FIDInceptionV3(nn.Module):
    """FID Inception-v3; ``pool(x01)`` -> (B, 2048); ``features``/``logits`` take images in [-1, 1]."""

    def __init__(self, fc: bool = True):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, 32)
        self.Mixed_5c = InceptionA(256, 64)
        self.Mixed_5d = InceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128)
        self.Mixed_6c = InceptionC(768, 160)
        self.Mixed_6d = InceptionC(768, 160)
        self.Mixed_6e = InceptionC(768, 192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        self.fc = nn.Linear(FEATURE_DIM, FC_CLASSES) if fc else None
        self.fingerprint = "random"

    @property
    def has_fc(self) -> bool:
        return self.fc is not None

    def pool(self, x01: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, 2048) pool3 features."""
        h = preprocess(x01.to(next(self.parameters()).device))
        h = F.max_pool2d(self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(h))), 3, stride=2)
        h = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(h)), 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            h = getattr(self, f"Mixed_{name}")(h)
        return F.adaptive_avg_pool2d(h, 1).flatten(1)

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] (ganscape's sample range) -> (B, 2048)."""
        return self.pool((x.clamp(-1, 1) + 1) / 2)

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> (B, 1008) logits (needs the fc weights): pool features times the fc weight,
        without the fc bias, as the Inception Score was defined in code (Salimans et al. 2016: the weight of the
        graph's ``softmax/logits/MatMul`` alone) and as torch-fidelity's ``logits_unbiased`` computes it; with the
        bias the softmax, and so the IS, comes out different."""
        if self.fc is None:
            raise ConfigError("--inception-weights: this weights file has no fc layer; IS needs it")
        return self.features(x) @ self.fc.weight.T


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from safetensors or a torch file loaded with ``weights_only=True``."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        try:
            return load_file(str(path))
        except Exception as err:  # SafetensorError: a bad header or a truncated file
            detail = textwrap.shorten(f"{type(err).__name__}: {err}".splitlines()[0], 120, placeholder=" ...")
            raise ConfigError(f"--inception-weights: {path} is not a readable safetensors file ({detail})") from None
    try:
        with warnings.catch_warnings():  # torch warns of a raw pickle's protocol before refusing it: one line, ours
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a pickle with arbitrary objects is refused, not executed
        detail = textwrap.shorten(f"{type(err).__name__}: {err}".splitlines()[0], 120, placeholder=" ...")
        raise ConfigError(f"--inception-weights: {path} is not a torch weights file readable with weights_only "
                          f"({detail}); give the .pth or .safetensors state dict") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise ConfigError(f"--inception-weights: {path} holds a {type(state).__name__}, not a state dict of named "
                          "tensors; give pytorch-fid's pt_inception-2015-12-05 weights (.pth or .safetensors)")
    return state


def map_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip ``module.``/``model.`` prefixes; drop AuxLogits and BN ``num_batches_tracked``."""
    out = {}
    for key, value in state.items():
        key = key.removeprefix("module.").removeprefix("model.")
        if not (key.startswith("AuxLogits.") or key.endswith("num_batches_tracked")):
            out[key] = value
    return out


def load_fid_inception(path: str | os.PathLike, device: str | torch.device = "cpu") -> FIDInceptionV3:
    """Build the network and load weights from ``path``; clear errors for a missing or wrong file."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"--inception-weights: file not found: {file}. ganscape downloads nothing; "
                          "get pytorch-fid's pt_inception-2015-12-05-6726825d.pth once and pass its path")
    state = map_keys(read_state_dict(file))
    net = FIDInceptionV3(fc="fc.weight" in state)
    expected = net.state_dict()
    wrong = [f"{key} {tuple(value.shape)} (expected {tuple(expected[key].shape)})" for key, value in state.items()
             if key in expected and value.shape != expected[key].shape]  # read_state_dict gives tensors only
    if wrong:  # e.g. torchvision's ImageNet weights: a 1000-class fc, where FID's Inception has 1008
        raise ConfigError(f"--inception-weights: {file} does not match the FID Inception-v3 layout ({len(wrong)} "
                          f"tensors of another shape, e.g. {'; '.join(wrong[:2])}); give pytorch-fid's "
                          "pt_inception-2015-12-05 weights")
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConfigError(f"--inception-weights: {file} does not match the FID Inception-v3 layout "
                          f"(missing {len(missing)} keys e.g. {missing[:3]}, unexpected {len(unexpected)} e.g. {unexpected[:3]})")
    digest = file_digest(file)
    if not digest.startswith(OFFICIAL_SHA256_PREFIX):
        logging.getLogger(__name__).warning(
            "warning: %s is not pytorch-fid's pt_inception-2015-12-05 weights (SHA-256 %s...); its FIDs are not "
            "comparable with published ones (results record its fingerprint)", file, digest[:16])
    net.fingerprint = digest[:16]
    return net.eval().to(device)
