"""The pictures of ``gnrcnn analyze`` (matplotlib, the ``plot`` extra): PR curves, the confusion
matrix, and an image's ground truth beside its predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import runtime
from ..errors import GnrcnnError
from ..fileio import write_figure_atomic

IOU_TYPES = {"bbox": "box", "segm": "mask"}


def _pyplot() -> Any:
    if (plt := runtime.pyplot()) is None:
        raise GnrcnnError("gnrcnn analyze draws with matplotlib: pip install 'gnrcnn[plot]'")
    return plt


def plot_pr(curves: dict[tuple[str, float], tuple[np.ndarray, np.ndarray, np.ndarray]], names: list[str],
            path: Path) -> None:  # fmt: skip
    """One panel per (box/mask, IoU): a line per class with objects, and the mean over classes in black.

    ``curves[(iou_type, iou)]`` = (recall (R,), precision (K, R) NaN for absent classes, mean (R,)).
    """
    plt = _pyplot()
    keys = sorted(curves, key=lambda k: (list(IOU_TYPES).index(k[0]), k[1]))
    ious = sorted({k[1] for k in keys})
    types = [t for t in IOU_TYPES if any(k[0] == t for k in keys)]
    fig, axes = plt.subplots(len(types), len(ious), figsize=(5.2 * len(ious), 4.4 * len(types)), dpi=100,
                             squeeze=False)  # fmt: skip
    colors = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    for (iou_type, iou), ax in zip(keys, axes.flat):
        recall, prec, mean = curves[(iou_type, iou)]
        for k, name in enumerate(names):
            if not np.isnan(prec[k]).all():
                ax.plot(recall, prec[k], color=colors(k % colors.N), linewidth=1.2,
                        label=f"{name} (AP {np.nanmean(prec[k]):.3f})")  # fmt: skip
        ax.plot(recall, mean, color="black", linewidth=2.4, label=f"all classes (AP {np.nanmean(mean):.3f})")
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision",
               title=f"{IOU_TYPES[iou_type]} @ IoU {iou:.2f}")  # fmt: skip
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower left", fontsize=7 if len(names) <= 12 else 5, ncol=1 if len(names) <= 12 else 2)
    fig.tight_layout()
    write_figure_atomic(fig, path)


def plot_confusion(counts: np.ndarray, names: list[str], score_thr: float, iou_thr: float, path: Path) -> None:
    """Counts (K + 1, K + 1) with the background row (spurious) and column (missed), colour by row share."""
    plt = _pyplot()
    labels = [*names, "background"]
    k = len(labels)
    side = min(max(4.5, 0.55 * k + 2.5), 30)
    fig, ax = plt.subplots(figsize=(side + 1, side), dpi=100)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    share[-1, -1] = np.nan  # background taken for background: not counted
    ax.imshow(np.ma.masked_invalid(share), cmap="Blues", vmin=0, vmax=1)
    if k <= 30:
        for (i, j), c in np.ndenumerate(counts):
            if (c or i == j) and not i == j == k - 1:
                ax.text(j, i, str(c), ha="center", va="center", fontsize=9 if k <= 12 else 6,
                        color="white" if share[i, j] > 0.6 else "black")  # fmt: skip
    ax.set_xticks(range(k), labels, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted class  (background: object missed)")
    ax.set_ylabel("ground truth  (background: spurious prediction)")
    ax.set_title(f"confusion at score >= {score_thr:g}, box IoU >= {iou_thr:g}\n(colour: share of the row)")
    fig.tight_layout()
    write_figure_atomic(fig, path)


def plot_side_by_side(left: torch.Tensor, right: torch.Tensor, titles: tuple[str, str], suptitle: str,
                      path: Path) -> None:  # fmt: skip
    """Two (3, H, W) uint8 pictures, ground truth and predictions, in one figure with titles."""
    plt = _pyplot()
    h, w = left.shape[1:]
    scale = 4.8 / max(h, w)
    fig, axes = plt.subplots(1, 2, figsize=(2 * w * scale + 0.4, h * scale + 0.9), dpi=max(100, int(h / 4.8)))
    for ax, img, title in zip(axes, (left, right), titles):
        ax.imshow(img.permute(1, 2, 0).numpy())
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    write_figure_atomic(fig, path)
