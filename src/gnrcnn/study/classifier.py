"""A small ResNet classifier for the classification studies, built from the backbone's own blocks.

Shapes: image (N, 3, S, S) -> logits (N, classes). A 3x3 stem (stride 2, then ReLU), one stage of
``BasicBlock``s per width (the first block of every stage after the first halves the resolution),
global average pooling and a linear layer: at S = 32 and three stages the last stage sees 4 x 4
positions, as ImageNet's ResNet-50 sees 7 x 7 in its last stage.

``group_norm_of(groups=..., per_group=...)`` makes the GN variants of the paper's Table 3 from the
product's ``Fp32GroupNorm``: a fixed number of groups (G = 1 is LN, G = C is IN) or a fixed number of
channels per group.

``ResNetClassifier`` is the detector's own ResNet with the same head, for ``gnrcnn study
detect-pretrained``'s pretraining; its backbone's state loads with ``--backbone-weights``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..modeling.norm import Fp32GroupNorm, NormLayer, conv, make_norm
from ..modeling.resnet import BasicBlock, ResNet


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


def init_classifier(model: nn.Module, blocks: list[nn.Module], fc: nn.Linear) -> None:
    """Kaiming convs, norms weight 1 bias 0, and the last norm of every block at weight 0 (each
    residual block starts as the identity), as the GN paper does for BN and GN alike."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.GroupNorm, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for block in blocks:
        if getattr(block.last_norm(), "weight", None) is not None:
            nn.init.zeros_(block.last_norm().weight)
    nn.init.normal_(fc.weight, std=0.01)
    nn.init.zeros_(fc.bias)


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
        init_classifier(self, list(self.blocks), self.fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(F.relu(self.stem_norm(self.stem(x)), inplace=True))
        return self.fc(x.mean((2, 3)))


class ResNetClassifier(nn.Module):
    """The detector's backbone (``modeling/resnet.ResNet``, every stage trained) with global average
    pooling and a linear layer: a backbone pretrained as a classifier, as ImageNet pretraining does.
    ``backbone_state()`` is its state in the detector's names (``backbone.conv1.weight``, ...)."""

    def __init__(self, *, depth: int, num_classes: int, norm: NormLayer) -> None:
        super().__init__()
        self.backbone = ResNet(depth=depth, norm=norm, frozen_stages=-1)
        self.fc = nn.Linear(self.backbone.out_channels["c5"], num_classes)
        blocks = [b for i in range(1, 5) for b in getattr(self.backbone, f"layer{i}")]
        init_classifier(self, blocks, self.fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *_, (_, c5) = self.backbone.stages(x)
        return self.fc(c5.mean((2, 3)))

    def backbone_state(self) -> dict[str, torch.Tensor]:
        """BN's step counter left out: FrozenBatchNorm2d keeps weight, bias and the running averages only."""
        return {f"backbone.{k}": v.detach().clone() for k, v in self.backbone.state_dict().items()
                if not k.endswith("num_batches_tracked")}  # fmt: skip
