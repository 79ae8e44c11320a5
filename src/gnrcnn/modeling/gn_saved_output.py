"""GroupNorm that keeps its output, not its input, for the backward pass.

Where the next layer keeps the normalised output anyway (the FPN's outputs feed the RPN's conv,
which saves its input), keeping the input too doubles the memory of the largest maps. The input's
normalised value is recovered from the output as x_hat = (y - beta) / gamma, so this applies only
when no gamma is 0; otherwise the standard GroupNorm is used.

Shapes: x (N, C, H, W), any memory format; gamma, beta (C,).
"""

from __future__ import annotations

from typing import Any

import torch


class GroupNormSavedOutput(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, groups: int, eps: float
                ) -> torch.Tensor:  # fmt: skip
        n, c = x.shape[:2]
        out, _, rstd = torch.ops.aten.native_group_norm(x, weight, bias, n, c, x.numel() // (n * c), groups, eps)
        ctx.groups = groups
        ctx.save_for_backward(out, weight, bias, rstd)
        return out

    @staticmethod
    def backward(ctx: Any, dout: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, None, None]:
        out, w, b, rstd = ctx.saved_tensors
        n, c, g = out.shape[0], out.shape[1], ctx.groups
        per_channel = (1, c, 1, 1)
        xhat = (out - b.view(per_channel)).div_(w.view(per_channel))
        dxhat = dout * w.view(per_channel)
        s1 = dxhat.sum(dim=(2, 3))  # (N, C)
        s2 = (dxhat * xhat).sum(dim=(2, 3))
        db = (s1 / w).sum(0)
        dw = (s2 / w).sum(0)
        count = (c // g) * out.shape[2] * out.shape[3]
        m1 = s1.view(n, g, -1).sum(2) / count  # per (image, group): mean of dxhat, mean of dxhat * xhat
        m2 = s2.view(n, g, -1).sum(2) / count
        r = rstd.view(n, g)

        def per_group(t: torch.Tensor) -> torch.Tensor:
            return t[:, :, None].expand(n, g, c // g).reshape(n, c, 1, 1)

        # dx = rstd * (dxhat - m1 - xhat * m2), in place
        dx = dxhat.mul_(per_group(r)).sub_(per_group(r * m1)).sub_(xhat.mul_(per_group(r * m2)))
        return dx, dw, db, None, None


def group_norm_saved_output(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, groups: int, eps: float
                            ) -> torch.Tensor:  # fmt: skip
    return GroupNormSavedOutput.apply(x, weight, bias, groups, eps)
