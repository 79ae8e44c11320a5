"""Initialisation of what is not loaded from a checkpoint (docs/spec/SEMANTICS.md, section 6).

Random draws happen in one fixed order (every conv of the parts first, then the special cases), so
a seed gives the same initial weights whichever parts were built by default.
"""

from __future__ import annotations

from torch import nn

from .resnet import BasicBlock, Bottleneck


def _zero_bias(m: nn.Module) -> None:
    if getattr(m, "bias", None) is not None:
        nn.init.zeros_(m.bias)


def _kaiming_and_norms(part: nn.Module) -> None:
    for m in part.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            _zero_bias(m)
        elif isinstance(m, (nn.GroupNorm, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def init_parts(
    *, backbone: nn.Module | None, fpn: nn.Module | None, rpn_head: nn.Module | None,
    box_head: nn.Module | None, mask_head: nn.Module | None, zero_init_residual: bool = False,
) -> None:  # fmt: skip
    """Kaiming-normal (fan_out, ReLU) convs; Xavier-uniform FPN convs and box fc; RPN N(0, 0.01);
    box classifier N(0, 0.01) and regressor N(0, 0.001); norms weight 1 bias 0; biases 0.

    Parts given as None (a user's own) are left as they are.
    """
    for part in (backbone, fpn, rpn_head, box_head, mask_head):
        if part is not None:
            _kaiming_and_norms(part)
    for m in fpn.modules() if fpn is not None else ():
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
            _zero_bias(m)
    for m in rpn_head.modules() if rpn_head is not None else ():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, std=0.01)
            _zero_bias(m)
    if box_head is not None:
        nn.init.xavier_uniform_(box_head.fc.weight)
        nn.init.normal_(box_head.cls_score.weight, std=0.01)
        nn.init.normal_(box_head.bbox_pred.weight, std=0.001)
        for m in (box_head.fc, box_head.cls_score, box_head.bbox_pred):
            _zero_bias(m)
    if zero_init_residual and backbone is not None:
        # Each residual block starts as the identity: steadier when training a backbone from scratch.
        for block in backbone.modules():
            if isinstance(block, (Bottleneck, BasicBlock)) and getattr(block.last_norm(), "weight", None) is not None:
                nn.init.zeros_(block.last_norm().weight)
