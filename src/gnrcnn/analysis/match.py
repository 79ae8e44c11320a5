"""The numbers behind ``gnrcnn analyze``: which image a result belongs to, the confusion matrix, and
COCOeval's precision and per-image matches turned into PR curves and per-image AP.

Shapes: K classes; boxes (n, 4) xywh as COCO stores them; precision (T, R, K) at T IoU thresholds
(0.50:0.05:0.95) and R = 101 recall points, area "all", 100 detections per image.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import torch

from ..errors import GnrcnnError
from ..modeling.box_ops import pairwise_iou

RESULT_KEYS = ("category_id", "bbox", "score")


def attach_image_ids(results: list[dict[str, Any]], gt: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """Copies of ``results`` that all carry the ground truth's ``image_id``.

    A record with ``image_id`` keeps it (``gnrcnn eval --out``'s results.json); one with only
    ``file_name`` (``gnrcnn predict``'s predictions.json, the path as given on the command line) is
    matched to the image whose ``file_name`` equals it, or that its path ends with (``/data/val/1.png``
    is ``val/1.png``), or to the only image with the same base name.
    """
    by_name = {im["file_name"]: im["id"] for im in gt["images"]}
    by_base: dict[str, list[int]] = defaultdict(list)
    for im in gt["images"]:
        by_base[PurePosixPath(im["file_name"]).name].append(im["id"])
    ids = set(by_name.values())
    cats = {c["id"] for c in gt["categories"]}
    cache: dict[str, int] = {}
    out = []
    for i, r in enumerate(results):
        if not isinstance(r, dict) or any(k not in r for k in RESULT_KEYS):
            raise GnrcnnError(f"{source}: record {i} is not a COCO result (needs {', '.join(RESULT_KEYS)})")
        if r["category_id"] not in cats:
            raise GnrcnnError(f"{source}: record {i} has category_id {r['category_id']}, not in the ground truth")
        if "image_id" in r:
            if r["image_id"] not in ids:
                raise GnrcnnError(f"{source}: record {i} has image_id {r['image_id']}, not in the ground truth")
            out.append(r)
            continue
        name = r.get("file_name")
        if name is None:
            raise GnrcnnError(f"{source}: record {i} has neither image_id nor file_name")
        if name not in cache:
            cache[name] = _match_name(str(name), by_name, by_base, source)
        out.append({**r, "image_id": cache[name]})
    return out


def _match_name(name: str, by_name: dict[str, int], by_base: dict[str, list[int]], source: str) -> int:
    if name in by_name:
        return by_name[name]
    path = name.replace("\\", "/")
    hits = {i for n, i in by_name.items() if path.endswith("/" + n.lstrip("/"))}
    if len(hits) == 1:
        return hits.pop()
    base = by_base.get(PurePosixPath(path).name, [])
    if not hits and len(base) == 1:
        return base[0]
    raise GnrcnnError(f"{source}: result file_name '{name}' matches {len(hits) or len(base)} ground-truth images "
                      f"(needs exactly one: equal file_name, a path ending in it, or a unique base name)")  # fmt: skip


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
        p = sorted(preds.get(image_id, []), key=lambda r: -r["score"])
        iou = box_iou(np.array([r["bbox"] for r in p], float).reshape(-1, 4),
                      np.array([a["bbox"] for a in g], float).reshape(-1, 4))  # fmt: skip
        free = ~crowd
        for j, r in enumerate(p):
            cand = np.where(free | crowd, iou[j], -1.0)
            best = int(np.argmax(cand)) if len(g) else -1
            if best >= 0 and cand[best] >= iou_thr:
                if crowd[best]:
                    continue
                free[best] = False
                rows.append(int(gt_cls[best]))
            else:
                rows.append(k)
            cols.append(index[r["category_id"]])
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
