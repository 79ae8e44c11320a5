"""Normalisation layers as callables (``channels -> module``), and the conv block that carries one.

Shapes: x (N, C, H, W).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from .gn_saved_output import group_norm_saved_output

NormLayer = Callable[[int], nn.Module]


class Fp32GroupNorm(nn.GroupNorm):
    """GroupNorm whose statistics are computed in float32 whatever the input dtype.

    Under bf16/fp16 autocast the group statistics of large feature maps lose too much precision,
    so the norm computes in fp32 and hands back the input's dtype.
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


def group_norm(channels: int) -> nn.Module:
    """The seed's norm: 32 groups, eps 1e-5, affine."""
    return Fp32GroupNorm(32, channels, eps=1e-5)


def norm_layer(kind: str) -> NormLayer | None:
    """The config's norm name (``gn``, ``bn``, ``frozen_bn``, ``none``) as a layer factory; None for none.

    The one place a name becomes a class: modules take the factory, not the name.
    """
    factories: dict[str, NormLayer | None] = {
        "gn": group_norm, "bn": nn.BatchNorm2d, "frozen_bn": FrozenBatchNorm2d, "none": None,
    }  # fmt: skip
    if kind not in factories:
        raise ValueError(f"unknown norm '{kind}'")
    return factories[kind]


def make_norm(norm: NormLayer | None, channels: int) -> nn.Module:
    return nn.Identity() if norm is None else norm(channels)


def conv(cin: int, cout: int, kernel: int, norm: NormLayer | None, stride: int = 1) -> nn.Conv2d:
    """A conv with 'same' padding; it has a bias only when there is no norm to absorb it."""
    return nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=norm is None)


class ConvNorm(nn.Module):
    """conv -> norm (-> ReLU)."""

    def __init__(self, cin: int, cout: int, kernel: int, *, norm: NormLayer | None, relu: bool, stride: int = 1
                 ) -> None:  # fmt: skip
        super().__init__()
        self.conv = conv(cin, cout, kernel, norm, stride)
        self.norm = make_norm(norm, cout)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x))
        return F.relu(x, inplace=True) if self.relu else x


def run_blocks(blocks: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    """``ConvNorm`` blocks in turn, each block's input let go before its norm runs: two activations
    alive at a time instead of three (the heads run on up to 1000 RoIs: ~50 MB each in R-50)."""
    for block in blocks:
        y = block.conv(x)
        del x
        y = block.norm(y)
        x = F.relu(y, inplace=True) if block.relu else y
    return x
