"""Normalisation layers chosen by name, and conv blocks that carry one.

Shapes: x (N, C, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from .gn_saved_output import group_norm_saved_output


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in float32 whatever the input dtype.

    Under bf16/fp16 autocast the group statistics of large feature maps lose too much precision
    in reduced precision, so the norm runs in fp32 and hands back the input's dtype.
    ``save_output``: keep the output rather than the input for backward (see gn_saved_output).
    """

    save_output = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32:
            if self.save_output and torch.is_grad_enabled() and x.requires_grad and bool((self.weight != 0).all()):
                return group_norm_saved_output(x, self.weight, self.bias, self.num_groups, self.eps)
            return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
        with torch.autocast(device_type=x.device.type, enabled=False):
            if x.device.type == "cpu" and x.dtype == torch.bfloat16:
                # The CPU kernel takes bf16 in and out with fp32 weights and computes in fp32
                # (equal to converting first, tested), without two conversion passes.
                return F.group_norm(x, self.num_groups, self.weight.float(), self.bias.float(), self.eps)
            y = F.group_norm(x.float(), self.num_groups, self.weight.float(), self.bias.float(), self.eps)
        return y.to(x.dtype)


def make_norm(kind: str, channels: int, groups: int = 32) -> nn.Module:
    """``gn`` (32 groups, eps 1e-5), ``bn``, ``frozen_bn`` or ``none`` (identity)."""
    if kind == "gn":
        return GroupNorm32(groups, channels, eps=1e-5)
    if kind == "bn":
        return nn.BatchNorm2d(channels)
    if kind == "frozen_bn":
        return FrozenBatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm '{kind}'")


class ConvNorm(nn.Module):
    """conv -> norm (-> ReLU). The conv has a bias only when there is no norm to absorb it."""

    def __init__(self, cin: int, cout: int, kernel: int, norm: str, relu: bool, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=norm == "none")
        self.norm = make_norm(norm, cout)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x))
        return F.relu(x, inplace=True) if self.relu else x
