"""Whether training recomputes the backbone blocks in the backward pass: a memory budget, not a fixed trade.

Recomputing keeps only each block's input for backward (a third of the training peak at
800x1333) and costs a second forward of the backbone (~8-15% more time). ``train.recompute_backbone``
says ``always``, ``never`` or ``auto``: recompute only when the estimated peak without it would
exceed ``train.memory_budget_gb`` (0: 80% of the memory free when training starts, plus what the
process already holds).

The estimate: the bytes autograd saves for backward in one training forward of a copy of the
model, measured on one small synthetic image at two sizes (saved-tensor hooks count every storage
once, parameters excluded), extrapolated linearly in pixels to the largest training image (or measured
at that image's own size when it is no larger than the smaller probe, as the 128 px shapes are), times
the images per step, plus the gradients and momentum of the trainable weights and what the process
holds now. The copy and restored random generators leave the real model and run untouched.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from .. import runtime
from ..config.schema import Config
from ..data.preprocess import Normalizer, pad_shape
from ..data.synthetic import synthetic_batch

# Two probe sizes (short side; the long side in the config's ratio). Below ~256 px the RoI heads'
# fixed-size work dominates the saved bytes; from there on they grow linearly with the pixels.
PROBE_SHORTS = (256, 512)
# Peak of a whole training step (forward, backward with its gradient buffers, optimizer step) over
# what the forward saves: measured on R-50 at 2 x 800x1333 on the CPU (docs/benchmarks.md).
PEAK_OVER_SAVED = 1.6


@dataclass(frozen=True)
class MemoryPlan:
    recompute: bool
    estimate_gb: float  # estimated peak without recomputation
    estimate_recompute_gb: float  # ... and with it
    budget_gb: float
    reason: str


def _probe_size(cfg: Config, short: int) -> tuple[int, int]:
    return short, max(short, round(short * cfg.input.long / cfg.input.short))


def _saved_bytes(model: nn.Module, cfg: Config, short: int, device: torch.device, amp: str | None) -> int:
    """Bytes autograd keeps for backward in one training forward on one synthetic image."""
    images, sizes, targets = synthetic_batch(1, cfg.num_classes, *_probe_size(cfg, short), boxes=4)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.layout == torch.sparse_csr:  # RoIAlign's sampling matrix: its three arrays
            for part in (t.crow_indices(), t.col_indices(), t.values()):
                seen[part.untyped_storage().data_ptr()] = part.untyped_storage().nbytes()
        elif (s := t.untyped_storage()).data_ptr() not in params:
            seen[s.data_ptr()] = s.nbytes()
        return t

    x = Normalizer(cfg.input, device).normalize(images, sizes)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), runtime.autocast(device, amp):
        losses = model(x, sizes.to(device), targets.to(device))
    del losses
    return sum(seen.values())


def _budget_gb(cfg: Config, device: torch.device) -> float:
    if cfg.train.memory_budget_gb > 0:
        return cfg.train.memory_budget_gb
    if device.type == "cuda":
        return 0.8 * torch.cuda.mem_get_info(device)[0] / 2**30 + held_gb(device)
    return 0.8 * runtime.available_memory_gb() + held_gb(device)


def held_gb(device: torch.device) -> float:
    """What the process holds now: CUDA's allocated memory, or the resident set on the CPU."""
    return torch.cuda.memory_allocated(device) / 2**30 if device.type == "cuda" else runtime.current_rss_gb()


def estimate_peak_gb(model: nn.Module, cfg: Config, device: torch.device, amp: str | None, *, recompute: bool,
                     held: float) -> float:  # fmt: skip
    """Estimated training peak at ``cfg.train.images_per_gpu`` images of ``input.short`` x ``input.long``,
    for a process that holds ``held`` GB before training starts."""
    probe = copy.deepcopy(model).train()
    probe.backbone.checkpoint_blocks = recompute
    (s0, s1) = PROBE_SHORTS
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        if cfg.input.short <= s0:  # images no larger than a probe (128 px shapes): measured at their own size,
            per_image = float(_saved_bytes(probe, cfg, cfg.input.short, device, amp))  # cheaper than a probe
        else:
            b0, b1 = (_saved_bytes(probe, cfg, s, device, amp) for s in (s0, s1))
            px0, px1, full = (
                float(math.prod(pad_shape(size, cfg.input.size_divisor)))
                for size in (_probe_size(cfg, s0), _probe_size(cfg, s1), (cfg.input.short, cfg.input.long))
            )
            per_image = b0 + (b1 - b0) * (full - px0) / (px1 - px0)
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return held + (2 * trainable + PEAK_OVER_SAVED * cfg.train.images_per_gpu * per_image) / 2**30


def plan(model: nn.Module, cfg: Config, device: torch.device, amp: str | None) -> MemoryPlan:
    """``train.recompute_backbone``: always / never as told; auto by the estimate against the budget."""
    mode, budget = cfg.train.recompute_backbone, _budget_gb(cfg, device)
    if mode != "auto":
        return MemoryPlan(mode == "always", float("nan"), float("nan"), budget, f"train.recompute_backbone={mode}")
    held = held_gb(device)
    without = estimate_peak_gb(model, cfg, device, amp, recompute=False, held=held)
    with_ = estimate_peak_gb(model, cfg, device, amp, recompute=True, held=held)
    recompute = without > budget
    verdict = "exceeds" if recompute else "fits"
    reason = (f"estimated peak {without:.1f} GB without recomputation {verdict} the {budget:.1f} GB budget "
              f"({with_:.1f} GB with it)")  # fmt: skip
    return MemoryPlan(recompute, without, with_, budget, reason)
