"""A small ResNet classifier for the classification studies, built from the backbone's own blocks.

Shapes: image (N, 3, S, S) -> logits (N, classes). A 3x3 stem (stride 2, then ReLU), one stage of
``BasicBlock``s per width (the first block of every stage after the first halves the resolution),
global average pooling and a linear layer: at S = 32 and three stages the last stage sees 4 x 4
positions, as ImageNet's ResNet-50 sees 7 x 7 in its last stage.

``group_norm_of(groups=..., per_group=...)`` makes the GN variants of the paper's Table 3 from the
product's ``Fp32GroupNorm``: a fixed number of groups (G = 1 is LN, G = C is IN) or a fixed number of
channels per group.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..modeling.norm import Fp32GroupNorm, NormLayer, conv, make_norm
from ..modeling.resnet import BasicBlock


def group_norm_of(*, groups: int | None = None, per_group: int | None = None) -> NormLayer:
    """GN with ``groups`` groups (fewer where a layer has fewer channels: min(groups, C)) or with
    ``per_group`` channels in each group (C / per_group groups); exactly one of the two."""
    if (groups is None) == (per_group is None):
        raise ValueError("group_norm_of: give exactly one of groups, per_group")

    def make(channels: int) -> nn.Module:
        g = min(groups, channels) if groups is not None else max(1, channels // per_group)  # type: ignore[operator]
        if channels % g:
            raise ValueError(f"GroupNorm: {channels} channels do not split into {g} groups")
        return Fp32GroupNorm(g, channels, eps=1e-5)

    return make


class SmallResNet(nn.Module):
    """``widths``: channels of each stage; ``blocks``: BasicBlocks per stage; ``norm``: a norm callable."""

    def __init__(self, *, num_classes: int, norm: NormLayer | None, widths: tuple[int, ...] = (32, 64, 128),
                 blocks: tuple[int, ...] = (1, 1, 1), stem_stride: int = 2) -> None:  # fmt: skip
        super().__init__()
        self.stem = conv(3, widths[0], 3, norm, stride=stem_stride)
        self.stem_norm = make_norm(norm, widths[0])
        layers, cin = [], widths[0]
        for i, (width, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                layers.append(BasicBlock(cin, width, 2 if (j == 0 and i > 0) else 1, norm))
                cin = width
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)
        self._init()

    def _init(self) -> None:
        """Kaiming convs, norms weight 1 bias 0, and the last norm of every block at weight 0 (each
        residual block starts as the identity), as the GN paper does for BN and GN alike."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.GroupNorm, nn.BatchNorm2d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for block in self.blocks:
            if getattr(block.last_norm(), "weight", None) is not None:
                nn.init.zeros_(block.last_norm().weight)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(F.relu(self.stem_norm(self.stem(x)), inplace=True))
        return self.fc(x.mean((2, 3)))
