"""Feature pyramid: {c2..c5} -> {p2..p6} (``channels`` each, strides 4..64), no activations.

Shapes: c_i (N, C_i, H/s, W/s) -> p_i (N, channels, H/s, W/s); p6 = p5 subsampled by 2.

Memory: the input may be the backbone's stages as they are computed (``ResNet.stages``), so each
C_i is let go once its lateral conv has run; the top-down sums are done in place on the laterals,
and each lateral is let go once its output conv has run. At 800x1333 that keeps ~250 MB fewer
feature maps alive than holding every C_i, lateral and sum until the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .norm import ConvNorm, NormLayer


class FPN(nn.Module):
    def __init__(self, *, in_channels: dict[str, int], channels: int = 256, norm: NormLayer | None) -> None:
        super().__init__()
        self.in_features = list(in_channels)  # finest first: c2, c3, c4, c5
        self.out_features = [f"p{k[1:]}" for k in self.in_features] + [f"p{int(self.in_features[-1][1:]) + 1}"]
        self.strides = {name: 2 ** int(name[1:]) for name in self.out_features}
        self.lateral_convs = nn.ModuleList(
            ConvNorm(c, channels, 1, norm=norm, relu=False) for c in in_channels.values()
        )
        self.fpn_convs = nn.ModuleList(ConvNorm(channels, channels, 3, norm=norm, relu=False) for _ in in_channels)
        for block in self.fpn_convs:
            if hasattr(block.norm, "save_output"):
                # Their outputs are kept anyway by the RPN conv that reads them: keep only those.
                block.norm.save_output = True

    def forward(self, feats: Mapping[str, torch.Tensor] | Iterable[tuple[str, torch.Tensor]]
                ) -> dict[str, torch.Tensor]:  # fmt: skip
        """``feats``: {name: C} or (name, C) pairs finest first, e.g. ``ResNet.stages(x)``."""
        index = {name: i for i, name in enumerate(self.in_features)}
        pairs = feats.items() if isinstance(feats, Mapping) else feats
        laterals: list[torch.Tensor | None] = [None] * len(self.in_features)
        for name, c in pairs:
            if name in index:
                laterals[index[name]] = self.lateral_convs[index[name]](c)
            del c
        missing = [k for k, lat in zip(self.in_features, laterals) if lat is None]
        if missing:
            raise ValueError(f"FPN: backbone gave no {', '.join(missing)}")
        for i in range(len(laterals) - 1, 0, -1):
            # Upsample to the finer map's exact size (not x2), as the reference does; the sum is
            # done in place (the laterals are this module's own tensors).
            up = F.interpolate(laterals[i], size=laterals[i - 1].shape[-2:], mode="nearest")
            laterals[i - 1] = laterals[i - 1].add_(up)
            del up
        outs = []
        for i, conv in enumerate(self.fpn_convs):
            outs.append(conv(laterals[i]))
            laterals[i] = None
        outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return dict(zip(self.out_features, outs))
