"""Conditioning layers shared by the conditional architectures: class-conditional batch
norm (de Vries et al. 2017; Miyato & Koyama 2018) in G, and in D a critic head that is plain, has
a projection term (Miyato & Koyama 2018) or an extra AC-GAN class head (Odena et al. 2017).

A condition ``y`` is either class ids, int64 (B,), or attribute vectors, float (B, K) of 0/1 (e.g. CelebA's 40
attributes; the layers are then built with ``num_classes`` = K). A class id is the one-hot special case of a vector:
an embedding of ids looks up rows of a (K, D) table, an embedding of vectors sums the rows of the attributes that
are on (``ConditionEmbedding``), so every conditional family accepts both."""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ganscape.models.base import CriticNet, Norm, maybe_spectral
from ganscape.registry import ConfigError

Conditioning = Literal["none", "projection", "acgan"]


def conditional_classes(conditional: bool, num_classes: int, who: str) -> int:
    """Number of classes a conditional G/D uses (0 when ``conditional`` is off); ConfigError on unlabelled data."""
    if not conditional:
        return 0
    if num_classes < 1:
        raise ConfigError(f"{who}: conditioning needs a labelled dataset, but this one has no classes; "
                          "set it to none/false or use a labelled dataset (e.g. digits, mnist, cifar10, or celeba "
                          "with data.condition=attributes)")
    return num_classes


class ConditionEmbedding(nn.Embedding):
    """(K, D) table; ``forward(y)``: ids (B,) -> rows (B, D); 0/1 vectors (B, K) -> y @ table (B, D)."""

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y.to(self.weight.dtype) @ self.weight if y.is_floating_point() else super().forward(y)


def condition_vector(y: torch.Tensor, width: int, dtype: torch.dtype) -> torch.Tensor:
    """A condition as a (B, K) vector: one-hot for class ids, unchanged for attribute vectors."""
    return y.to(dtype) if y.is_floating_point() else F.one_hot(y, width).to(dtype)


def require_labels(y: torch.Tensor | None) -> None:
    """Raise a clear error when a class-conditional generator is called without labels."""
    if y is None:
        raise ValueError("this generator is conditional: pass labels y, class ids (B,) or attribute vectors (B, K)")


class ClassBatchNorm(nn.Module):
    """Batch norm with per-class affine parameters: BN(x) * (1 + gamma[y]) + beta[y].

    x: (B, C, H, W) or (B, C); y: (B,) int64 ids or (B, K) attribute vectors. Embeddings start at zero, so at init the layer is plain (non-affine)
    batch norm. The ``1 +`` offset matters: compare_gan's version omitted it (issue #54), so a zero-initialised
    embedding multiplied every feature map by 0."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = ConditionEmbedding(num_classes, channels)
        self.beta = ConditionEmbedding(num_classes, channels)
        nn.init.zeros_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        require_labels(y)
        flat = x.dim() == 2
        h = self.bn(x[:, :, None, None] if flat else x)
        h = h * (1 + self.gamma(y))[:, :, None, None] + self.beta(y)[:, :, None, None]
        return h[:, :, 0, 0] if flat else h


class GeneratorNorm(nn.Module):
    """Norm after a generator layer: class-conditional BN, BN, or nothing; ``forward(x, y)``."""

    def __init__(self, kind: Literal["batch", "none"], channels: int, num_classes: int = 0):
        super().__init__()
        if num_classes > 0 and kind != "batch":  # its class-conditional gain and bias live in the batch norm
            raise ConfigError(f"generator.norm: {kind!r} leaves a conditional generator no class-conditional batch "
                              "norm to take its labels; use norm: batch, or conditional: false")
        self.conditional = num_classes > 0
        if self.conditional:
            self.norm: nn.Module = ClassBatchNorm(channels, num_classes)
        else:
            self.norm = nn.BatchNorm2d(channels) if kind == "batch" else nn.Identity()

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditional:
            return self.norm(x, y)
        if x.dim() == 2 and isinstance(self.norm, nn.BatchNorm2d):
            return self.norm(x[:, :, None, None])[:, :, 0, 0]
        return self.norm(x)


class CriticHead(nn.Module):
    """Pooled features h (B, F) -> scores (B,), optionally class-aware.

    ``conditioning``: ``none``: linear(h); ``projection``: linear(h) + <embed(y), h>; ``acgan``: linear(h) for
    real/fake plus ``classify(h)`` -> (B, K) raw class logits."""

    def __init__(self, features: int, num_classes: int, conditioning: Conditioning, norm: Norm, bias: bool = True):
        super().__init__()
        self.conditioning = conditioning
        self.linear = maybe_spectral(nn.Linear(features, 1, bias=bias), norm)
        if conditioning == "projection":
            embed = ConditionEmbedding(num_classes, features)
            nn.init.normal_(embed.weight, 0.0, 0.02)
            self.embed = maybe_spectral(embed, norm)
        elif conditioning == "acgan":
            self.classifier = maybe_spectral(nn.Linear(features, num_classes), norm)

    def forward(self, h: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        score = self.linear(h).reshape(h.shape[0])
        if self.conditioning == "projection":
            if y is None:
                raise ValueError("a projection discriminator needs labels for every batch, fakes included: "
                                 "use a conditional generator (generator.conditional=true)")
            score = score + (self.embed(y) * h).sum(dim=1)
        return score

    def classify(self, h: torch.Tensor) -> torch.Tensor:
        """(B, F) -> (B, K) raw class logits (AC-GAN head only)."""
        return self.classifier(h)


class ConditionalCritic(CriticNet):
    """Base for discriminators built as ``features(x, y) -> h (B, F)`` then a ``CriticHead``.

    With an AC-GAN head, ``aux_classes`` is the number of classes and ``forward_aux(x, y)`` returns (scores (B,),
    class logits (B, K)); the alternating scheme adds the classification loss."""

    head: CriticHead

    @property
    def uses_labels(self) -> bool:
        return self.head.conditioning != "none"

    def set_head(self, head: CriticHead) -> None:
        self.head = head
        self.aux_classes = head.classifier.out_features if head.conditioning == "acgan" else 0

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x, y), y)

    def forward_aux(self, x: torch.Tensor, y: torch.Tensor | None = None):
        if not self.aux_classes:
            return super().forward_aux(x, y)
        h = self.features(x, y)
        return self.head(h, y), self.head.classify(h)


def classification_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """AC-GAN's auxiliary loss on raw logits (B, K): cross-entropy against class ids (B,), or the mean binary
    cross-entropy of each attribute against 0/1 vectors (B, K)."""
    if y.is_floating_point():
        return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype))
    return F.cross_entropy(logits, y)


def make_head(features: int, num_classes: int, conditioning: Conditioning, norm: Norm, who: str,
              bias: bool = True) -> CriticHead:
    """A CriticHead, checking that conditioning has labels to use."""
    classes = conditional_classes(conditioning != "none", num_classes, f"{who}.conditioning")
    return CriticHead(features, classes, conditioning, norm, bias)
