"""The numbers behind ``gnrcnn analyze``: the confusion matrix (by the one matcher,
``evaluation/matching.py``), and COCOeval's precision and per-image matches turned into PR curves and per-image AP.

Shapes: K classes; boxes (n, 4) xywh as COCO stores them; precision (T, R, K) at T IoU thresholds
(0.50:0.05:0.95) and R = 101 recall points, area "all", 100 detections per image.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import torch

from ..evaluation.matching import greedy_match
from ..modeling.box_ops import pairwise_iou


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, 4), (m, 4) xywh (COCO's boxes) -> (n, m) IoU, by ``box_ops.pairwise_iou``."""
    xyxy = [torch.from_numpy(np.concatenate([x[:, :2], x[:, :2] + x[:, 2:]], 1)) for x in (a, b)]
    return pairwise_iou(*xyxy).numpy()


def confusion_matrix(
    gt: dict[str, Any], results: list[dict[str, Any]], cat_ids: list[int], score_thr: float = 0.5,
    iou_thr: float = 0.5,
) -> np.ndarray:  # fmt: skip
    """(K + 1, K + 1) counts: rows the ground-truth class, columns the predicted class; the last row
    holds spurious predictions (matched to no object), the last column missed objects.

    Per image, predictions scoring >= ``score_thr`` are taken by descending score; each is matched to
    the unmatched object (of any class) it overlaps most, if that box IoU is >= ``iou_thr``. A second
    prediction on an already matched object is spurious. Crowd regions are no objects: a prediction
    whose best overlap is one is left out.
    """
    k = len(cat_ids)
    index = {c: i for i, c in enumerate(cat_ids)}
    objs: dict[int, list[dict]] = defaultdict(list)
    for a in gt["annotations"]:
        objs[a["image_id"]].append(a)
    preds: dict[int, list[dict]] = defaultdict(list)
    for r in results:
        if r["score"] >= score_thr:
            preds[r["image_id"]].append(r)
    rows: list[int] = []
    cols: list[int] = []
    for image_id in set(objs) | set(preds):
        g = objs.get(image_id, [])
        gt_cls = np.array([index[a["category_id"]] for a in g], dtype=np.int64)
        crowd = np.array([bool(a.get("iscrowd", 0)) for a in g], dtype=bool)
        p = preds.get(image_id, [])
        iou = box_iou(np.array([r["bbox"] for r in p], float).reshape(-1, 4),
                      np.array([a["bbox"] for a in g], float).reshape(-1, 4))  # fmt: skip
        found = greedy_match(torch.from_numpy(iou), torch.tensor([r["score"] for r in p], dtype=torch.float64),
                             iou_thr, torch.from_numpy(crowd)).numpy()  # fmt: skip
        at = np.where(found >= 0, found, len(g))  # len(g): no object (a sentinel past the end)
        on_crowd = np.append(crowd, False)[at]  # a prediction on a crowd region: left out
        rows += np.append(gt_cls, k)[at][~on_crowd].tolist()
        cols += [index[r["category_id"]] for r, c in zip(p, on_crowd) if not c]
        free = ~crowd
        free[found[(found >= 0) & ~on_crowd]] = False
        missed = gt_cls[free]
        rows += missed.tolist()
        cols += [k] * len(missed)
    counts = np.zeros((k + 1, k + 1), dtype=np.int64)
    np.add.at(counts, (np.array(rows, np.int64), np.array(cols, np.int64)), 1)
    return counts


def average_precision(ev: Any) -> dict[str, float]:
    """AP@[.5:.95], AP50, AP75 from an accumulated COCOeval (as ``summarize`` computes them)."""
    prec = ev.eval["precision"][:, :, :, 0, -1]  # (T, R, K)

    def mean(p: np.ndarray) -> float:
        p = p[p > -1]
        return float(p.mean()) if p.size else float("nan")

    return {"AP": mean(prec), "AP50": mean(prec[0]), "AP75": mean(prec[5])}


def pr_curves(ev: Any, iou: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Recall points (R,), per-class precision (K, R) with NaN where a class has no objects, and the
    mean over classes (R,): its mean over R is the AP at this IoU."""
    t = int(np.argmin(np.abs(ev.params.iouThrs - iou)))
    prec = ev.eval["precision"][t, :, :, 0, -1].T.astype(float)  # (K, R)
    prec[prec < 0] = np.nan
    valid = ~np.isnan(prec).all(axis=1)
    overall = np.nanmean(prec[valid], axis=0) if valid.any() else np.full(prec.shape[1], np.nan)
    return np.asarray(ev.params.recThrs), prec, overall


def per_image_ap(ev: Any) -> dict[int, float]:
    """AP@[.5:.95] of each image with objects: what COCOeval gives when run on that image alone
    (the mean over its classes with objects of the 101-point interpolated precision), from the
    matches of the one run over all images."""
    rec_thrs = np.asarray(ev.params.recThrs)
    max_det = ev.params.maxDets[-1]
    sums: dict[int, list[float]] = defaultdict(list)
    for e in ev.evalImgs:
        if e is None or e["maxDet"] != max_det:
            continue
        ap = _entry_ap(e, rec_thrs, max_det)
        if ap is not None:
            sums[int(e["image_id"])].append(ap)
    return {i: float(np.mean(v)) for i, v in sums.items()}


def _entry_ap(e: dict[str, Any], rec_thrs: np.ndarray, max_det: int) -> float | None:
    """One image and class: mean over IoU thresholds of the interpolated precision (accumulate's rules)."""
    n_obj = int(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0))
    if n_obj == 0:
        return None
    order = np.argsort(-np.asarray(e["dtScores"][:max_det]), kind="mergesort")
    matched = np.asarray(e["dtMatches"])[:, :max_det][:, order]  # (T, D): matched object id or 0
    ignored = np.asarray(e["dtIgnore"])[:, :max_det][:, order].astype(bool)
    tp = np.cumsum((matched != 0) & ~ignored, axis=1, dtype=float)
    fp = np.cumsum((matched == 0) & ~ignored, axis=1, dtype=float)
    n = tp.shape[1]
    if n == 0:
        return 0.0
    recall = tp / n_obj
    precision = np.maximum.accumulate((tp / (tp + fp + np.spacing(1)))[:, ::-1], axis=1)[:, ::-1]
    q = np.zeros((tp.shape[0], len(rec_thrs)))
    for t in range(tp.shape[0]):
        idx = np.searchsorted(recall[t], rec_thrs, side="left")
        ok = idx < n
        q[t, ok] = precision[t, idx[ok]]
    return float(q.mean())
