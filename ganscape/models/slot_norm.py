"""Batch norm per PacGAN packing slot: the statistics of a generator batch taken over each slot's samples apart.

The PacGAN code draws a PacGAN-m batch with m separate generator calls, so its batch norm sees one packing slot at a
time; ``ganscape.models.packing`` packs samples i*m .. i*m+m-1 into one input, so slot k holds the samples j with
j mod m = k. ``generator.bn_groups: m`` does the same in one call."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class InterleavedBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are taken over ``groups`` interleaved groups of the batch separately
    (sample j belongs to group j mod ``groups``). The running statistics (used for sampling) move towards the
    groups' mean batch mean and mean unbiased batch variance. ``groups`` 1 is plain batch norm.
    forward: x (B, C, ...), B a multiple of ``groups`` in training -> (B, C, ...)."""

    def __init__(self, features: int, momentum: float, groups: int):
        super().__init__(features, momentum=momentum)
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.groups == 1:
            return super().forward(x)
        batch, features = x.shape[:2]
        if batch % self.groups or batch // self.groups < 2:
            raise ValueError(f"generator.bn_groups: a batch of {batch} samples cannot be cut into {self.groups} "
                             "groups of at least two; use a batch size that is a multiple of bn_groups")
        wide = x.to(torch.promote_types(x.dtype, torch.float32))  # fp16/bf16 statistics in float32, as BN's
        # (B, C, ...) -> (B/g, g*C, ...): channel k*C + c holds channel c of slot k, so plain batch norm is per slot
        slot_mean, slot_var = self.running_mean.repeat(self.groups), self.running_var.repeat(self.groups)
        out = F.batch_norm(wide.reshape(batch // self.groups, self.groups * features, *x.shape[2:]), slot_mean,
                           slot_var, self.weight.repeat(self.groups), self.bias.repeat(self.groups), True,
                           self.momentum, self.eps)
        self.average_slots(slot_mean, slot_var)
        return out.reshape(x.shape).to(x.dtype)

    @torch.no_grad()
    def average_slots(self, slot_mean: torch.Tensor, slot_var: torch.Tensor) -> None:
        """The running statistics from the (groups * features,) per-slot ones ``F.batch_norm`` moved this step (each
        towards its slot's mean and unbiased variance): their mean over the slots, which is the shared statistics moved
        towards the slots' mean batch mean and mean unbiased variance."""
        self.running_mean.copy_(slot_mean.view(self.groups, -1).mean(dim=0))
        self.running_var.copy_(slot_var.view(self.groups, -1).mean(dim=0))
        self.num_batches_tracked += 1


class InterleavedBatchNorm1d(InterleavedBatchNorm, nn.BatchNorm1d):
    """``InterleavedBatchNorm`` of (B, features) vectors."""


class InterleavedBatchNorm2d(InterleavedBatchNorm, nn.BatchNorm2d):
    """``InterleavedBatchNorm`` of (B, C, H, W) maps, per channel."""
