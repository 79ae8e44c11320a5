"""Initialisation of what is not loaded from a checkpoint (SEMANTICS.md section 6)."""

from __future__ import annotations

from torch import nn

from .resnet import BasicBlock, Bottleneck


def _zero_bias(m: nn.Module) -> None:
    if getattr(m, "bias", None) is not None:
        nn.init.zeros_(m.bias)


def init_weights(model: nn.Module, zero_init_residual: bool = False) -> None:
    """Kaiming-normal (fan_out, ReLU) convs; Xavier-uniform FPN convs and box fc; RPN N(0, 0.01);
    box classifier N(0, 0.01) and regressor N(0, 0.001); norms weight 1 bias 0; biases 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            _zero_bias(m)
        elif isinstance(m, (nn.GroupNorm, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for m in model.fpn.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
            _zero_bias(m)
    for m in model.rpn.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, std=0.01)
            _zero_bias(m)
    head = model.box_head
    nn.init.xavier_uniform_(head.fc.weight)
    nn.init.normal_(head.cls_score.weight, std=0.01)
    nn.init.normal_(head.bbox_pred.weight, std=0.001)
    for m in (head.fc, head.cls_score, head.bbox_pred):
        _zero_bias(m)
    if zero_init_residual:
        # Each residual block starts as the identity: steadier when training a backbone from scratch.
        for block in model.backbone.modules():
            last = getattr(block, "norm3" if isinstance(block, Bottleneck) else "norm2", None)
            if isinstance(block, (Bottleneck, BasicBlock)) and getattr(last, "weight", None) is not None:
                nn.init.zeros_(last.weight)
