"""ResNet backbone, "pytorch style" (a bottleneck's stride sits in its 3x3 conv).

Shapes: image (N, 3, H, W) -> {"c2", "c3", "c4", "c5"} with strides 4, 8, 16, 32 and channels
(256, 512, 1024, 2048) for depth 50/101, (64, 128, 256, 512) for depth 18/34; ``width`` (64 in the
published ResNets) scales them all, as detectron2's STEM_OUT_CHANNELS/RES2_OUT_CHANNELS do (tests use 32).

``stages(x)`` yields the outputs one at a time, so a consumer (the FPN's lateral convs) can let
each go before the next is computed; ``forward`` collects them in a dict.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .norm import NormLayer, conv, make_norm

STAGE_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}


def _shortcut(cin: int, cout: int, stride: int, norm: NormLayer | None) -> nn.Module | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(conv(cin, cout, 1, norm, stride), make_norm(norm, cout))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int, norm: NormLayer | None) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1, self.norm1 = conv(cin, width, 1, norm), make_norm(norm, width)
        self.conv2, self.norm2 = conv(width, width, 3, norm, stride), make_norm(norm, width)
        self.conv3, self.norm3 = conv(width, cout, 1, norm), make_norm(norm, cout)
        self.downsample = _shortcut(cin, cout, stride, norm)

    def last_norm(self) -> nn.Module:
        return self.norm3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)), inplace=True)
        y = F.relu(self.norm2(self.conv2(y)), inplace=True)
        y = self.norm3(self.conv3(y))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(y.add_(identity), inplace=True)  # y is this block's own: no second buffer


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int, norm: NormLayer | None) -> None:
        super().__init__()
        self.conv1, self.norm1 = conv(cin, width, 3, norm, stride), make_norm(norm, width)
        self.conv2, self.norm2 = conv(width, width, 3, norm), make_norm(norm, width)
        self.downsample = _shortcut(cin, width, stride, norm)

    def last_norm(self) -> nn.Module:
        return self.norm2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)), inplace=True)
        y = self.norm2(self.conv2(y))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(y.add_(identity), inplace=True)


class ResNet(nn.Module):
    """``frozen_stages``: the stem and this many stages get no gradient and keep inference behaviour."""

    def __init__(self, *, depth: int = 50, norm: NormLayer | None, frozen_stages: int = 1, width: int = 64) -> None:
        super().__init__()
        block = Bottleneck if depth >= 50 else BasicBlock
        self.conv1 = conv(3, width, 7, norm, stride=2)
        self.norm1 = make_norm(norm, width)
        cin = width
        self.out_channels: dict[str, int] = {}
        self.strides = {"c2": 4, "c3": 8, "c4": 16, "c5": 32}
        for i, n in enumerate(STAGE_BLOCKS[depth]):
            blocks = []
            for j in range(n):
                blocks.append(block(cin, width << i, 2 if (j == 0 and i > 0) else 1, norm))
                cin = (width << i) * block.expansion
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            self.out_channels[f"c{i + 2}"] = cin
        self.frozen_stages = frozen_stages
        self.checkpoint_blocks = False  # training: keep block inputs only, recompute the rest in backward
        for m in self._frozen():
            m.requires_grad_(False)

    def _frozen(self) -> list[nn.Module]:
        parts: list[nn.Module] = [self.conv1, self.norm1] if self.frozen_stages >= 0 else []
        return parts + [getattr(self, f"layer{i}") for i in range(1, self.frozen_stages + 1)]

    def train(self, mode: bool = True) -> ResNet:
        super().train(mode)
        if mode:  # frozen stages keep inference behaviour (matters for BatchNorm statistics only)
            for m in self._frozen():
                m.eval()
        return self

    def stages(self, x: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
        """("c2", C2), ..., ("c5", C5), computed one stage at a time."""
        x = F.relu(self.norm1(self.conv1(x)), inplace=True)
        x = F.max_pool2d(x, 3, 2, 1)
        for i in range(1, 5):
            layer = getattr(self, f"layer{i}")
            if self.checkpoint_blocks and torch.is_grad_enabled() and i > self.frozen_stages:
                for block in layer:
                    x = checkpoint(block, x, use_reentrant=False)
            else:
                x = layer(x)
            yield f"c{i + 1}", x

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(self.stages(x))
