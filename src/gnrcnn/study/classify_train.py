"""One run of a classification study: a ``SmallResNet`` with one norm, trained at one batch size.

The paper's protocol (Wu & He 2018, section 4.1): every batch size trains for the same number of
epochs, the lr is scaled linearly with the batch (``base_lr * batch / base_batch``), BN uses the
batch's statistics in training and its running averages at test. SGD with momentum, cosine lr
decay over the run, random horizontal flips.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..fileio import atomic_open
from ..progress import progress
from .classifier import SmallResNet
from .classify_plan import ClassifyPlan, norm_of
from .shape_crops import make_crops

MEAN, STD = 127.5, 64.0  # fixed for the set (not per image: the images' own statistics are part of the task)


def load_data(plan: ClassifyPlan, out: Path) -> dict[str, torch.Tensor]:
    """The train and test sets, generated once into ``out/data`` and read back after."""
    name = f"crops_{plan.train_images}_{plan.test_images}_{plan.size}_{plan.data_seed}_{'-'.join(plan.classes)}.npz"
    path = out / "data" / name
    if not path.exists():
        x, y = make_crops(plan.train_images + plan.test_images, plan.size, plan.data_seed, plan.classes)
        with atomic_open(path, "study data") as f:
            np.savez(f, x=x, y=y)
    with np.load(path) as d:
        x, y = torch.from_numpy(d["x"]), torch.from_numpy(d["y"])
    n = plan.train_images
    return {"train_x": x[:n], "train_y": y[:n], "test_x": x[n:], "test_y": y[n:]}


def _as_input(x: torch.Tensor) -> torch.Tensor:
    return (x.float() - MEAN) / STD


Input = Callable[[torch.Tensor], torch.Tensor]  # uint8 images (N, 3, S, S) -> the network's float input


def test_error(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 500, to_input: Input = _as_input
               ) -> float:  # fmt: skip
    """Top-1 error (%) in inference mode (BN: running averages)."""
    model.eval()
    with torch.no_grad():
        wrong = sum(int((model(to_input(x[i : i + batch])).argmax(1) != y[i : i + batch]).sum())
                    for i in range(0, len(x), batch))  # fmt: skip
    return 100.0 * wrong / len(x)


def batch_stat_error(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    """Top-1 error (%) with BN normalising each test batch of ``batch`` images by its own statistics,
    as in training (on a copy: the model's running averages are left alone). For GN/LN/IN it equals
    ``test_error``; for BN the difference is the cost of the running averages."""
    probe = copy.deepcopy(model).train()
    with torch.no_grad():
        n = len(x) - len(x) % batch
        wrong = sum(int((probe(_as_input(x[i : i + batch])).argmax(1) != y[i : i + batch]).sum())
                    for i in range(0, n, batch))  # fmt: skip
    return 100.0 * wrong / max(n, 1)


def _lr(plan: ClassifyPlan, batch: int, step: int, steps: int) -> float:
    return plan.base_lr * batch / plan.base_batch * 0.5 * (1 + math.cos(math.pi * step / steps))


def train_one(plan: ClassifyPlan, data: dict[str, torch.Tensor], norm: str, batch: int, seed: int) -> dict[str, Any]:
    """Train one model and score it; the record holds the errors, the final train loss and wall time."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = SmallResNet(num_classes=len(plan.classes), norm=norm_of(norm, plan.groups), widths=plan.widths,
                        blocks=plan.blocks)  # fmt: skip
    record = {
        "norm": norm,
        "batch": batch,
        "seed": seed,
        **fit(model, plan, data, batch, seed, f"{norm} b{batch} s{seed}"),
    }
    if record["error"] is None:
        return record
    if norm == "bn":
        record["error_batch_stats"] = round(batch_stat_error(model, data["test_x"], data["test_y"], batch), 2)
    record["wall_s"] = round(time.perf_counter() - start, 1)
    return record


def fit(model: nn.Module, plan: ClassifyPlan, data: dict[str, torch.Tensor], batch: int, seed: int, desc: str,
        to_input: Input = _as_input) -> dict[str, Any]:  # fmt: skip
    """Train ``model`` in place under the plan's protocol at ``batch`` and test it: steps, lr, final train loss,
    top-1 error (None, with ``failed``, if the loss became non-finite). ``to_input``: uint8 -> network input."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]  # norms' affine and biases: no weight decay
    opt = torch.optim.SGD([{"params": decay, "weight_decay": plan.weight_decay}, {"params": no_decay}],
                          lr=0.0, momentum=plan.momentum)  # fmt: skip
    gen = torch.Generator().manual_seed(seed)
    x, y = data["train_x"], data["train_y"]
    per_epoch = len(x) // batch  # the last partial batch is dropped: BN's batch is always ``batch``
    steps, losses = plan.epochs * per_epoch, []
    model.train()
    bar = progress(total=steps, desc=desc, unit="it", leave=False, mininterval=10)
    for epoch in range(plan.epochs):
        order = torch.randperm(len(x), generator=gen)
        flips = torch.rand(len(x), generator=gen) < 0.5
        for i in range(per_epoch):
            idx = order[i * batch : (i + 1) * batch]
            xb = to_input(x[idx])
            xb = torch.where(flips[idx, None, None, None], xb.flip(3), xb)
            for group in opt.param_groups:
                group["lr"] = _lr(plan, batch, epoch * per_epoch + i, steps)
            loss = F.cross_entropy(model(xb), y[idx])
            if not torch.isfinite(loss):
                bar.close()
                return {"error": None, "failed": f"non-finite loss at step {epoch * per_epoch + i}"}
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            bar.update()
    bar.close()
    return {"steps": steps, "lr": plan.base_lr * batch / plan.base_batch,
            "train_loss": round(float(np.mean(losses[-max(1, per_epoch):])), 4),
            "error": round(test_error(model, data["test_x"], data["test_y"], to_input=to_input), 2)}  # fmt: skip
