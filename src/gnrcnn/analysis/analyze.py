"""``gnrcnn analyze``: a results file against its ground truth, as pictures a person looks at.

Writes into ``out``: ``pr_curves.png`` (per class and over all classes, box and mask, IoU 0.5 and
0.75), ``confusion_matrix.png`` (with background: missed objects and spurious predictions),
``worst/`` and ``best/`` (the N images of lowest and highest per-image AP, ground truth beside the
predictions), ``summary.txt`` (also printed) and ``analysis.json`` (every number behind them).
The maths is in ``match.py`` (COCOeval itself: ``evaluation/coco_eval.py``), the drawing in ``plots.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools import mask as mask_utils

from ..coco_results import read_results
from ..data.image_io import read_image
from ..errors import GnrcnnError
from ..evaluation.coco_eval import load_gt, per_class_ap, run_cocoeval
from ..evaluation.ground_truth import attach_image_ids
from ..evaluation.matching import greedy_match
from ..fileio import write_json_atomic, write_text_atomic
from ..modeling.box_ops import pairwise_iou
from ..structures import Instances
from ..visualize.draw import Color, draw, enlarged, palette
from .match import average_precision, confusion_matrix, per_image_ap, pr_curves
from .plots import IOU_TYPES, plot_confusion, plot_pr, plot_side_by_side
from .text import summary_text

PR_IOUS = (0.5, 0.75)


@dataclass(frozen=True)
class Options:
    score_thr: float = 0.5  # predictions counted in the confusion matrix and drawn
    iou_thr: float = 0.5  # box IoU that makes a prediction and an object a match
    num_images: int = 5  # worst and best images drawn
    data_root: str | None = None  # folder of the ground truth's file_names (pictures)


def analyze(results_file: str | Path, ann: str | Path, out: str | Path, opts: Options = Options()) -> dict[str, Any]:
    """Everything listed in the module docstring; returns what analysis.json holds."""
    raw = read_results(results_file)
    gt = load_gt(ann)
    results = attach_image_ids(raw, gt.dataset, str(results_file))
    if not results:
        raise GnrcnnError(f"{results_file}: holds no detections to analyze")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cat_ids = sorted(gt.getCatIds())
    names = [gt.cats[c]["name"] for c in cat_ids]
    types = ["bbox"] + (["segm"] if all("segmentation" in r for r in results) else [])
    report: dict[str, Any] = {"results": str(results_file), "ann": str(ann), "options": asdict(opts)}
    curves, image_ap = {}, {}
    for t in types:
        ev = run_cocoeval(gt, results, t, summary=False)
        report[t] = average_precision(ev)
        report[t]["per_class"] = per_class_ap(ev, gt)
        for iou in PR_IOUS:
            curves[(t, iou)] = pr_curves(ev, iou)
        image_ap[t] = per_image_ap(ev)
    plot_pr(curves, names, out / "pr_curves.png")
    counts = confusion_matrix(gt.dataset, results, cat_ids, opts.score_thr, opts.iou_thr)
    plot_confusion(counts, names, opts.score_thr, opts.iou_thr, out / "confusion_matrix.png")
    report["confusion"] = {"labels": [*names, "background"], "counts": counts.tolist()}
    rank_by = types[-1]
    report["per_image_ap"] = {t: {str(k): v for k, v in image_ap[t].items()} for t in types}
    report["ranked_by"] = rank_by
    report["worst"], report["best"] = _draw_ranked(gt, results, raw, image_ap[rank_by], names, out, opts, rank_by)
    report["counts"] = _totals(gt.dataset, results, opts.score_thr)
    text = summary_text(report, names)
    write_text_atomic(text, out / "summary.txt", "summary")
    write_json_atomic(report, out / "analysis.json", "analysis", indent=1)
    return report


def _totals(gt: dict[str, Any], results: list[dict[str, Any]], score_thr: float) -> dict[str, int]:
    with_objects = {a["image_id"] for a in gt["annotations"] if not a.get("iscrowd", 0)}
    return {"images": len(gt["images"]), "images_with_objects": len(with_objects),
            "objects": sum(1 for a in gt["annotations"] if not a.get("iscrowd", 0)), "detections": len(results),
            "detections_above_thr": sum(1 for r in results if r["score"] >= score_thr)}  # fmt: skip


def _draw_ranked(
    gt: Any, results: list[dict[str, Any]], raw: list[dict[str, Any]], ap: dict[int, float], names: list[str],
    out: Path, opts: Options, rank_by: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """The N worst and N best images (by per-image AP, ties by id) drawn; [{image_id, file_name, AP, picture}]."""
    ranked = sorted(ap, key=lambda i: (ap[i], i))
    n = min(opts.num_images, len(ranked) // 2 if len(ranked) > 1 else len(ranked))
    worst, best = ranked[:n], ranked[::-1][:n]
    paths = _image_paths(gt, raw, results, opts.data_root, worst + best)
    by_image: dict[int, list[dict[str, Any]]] = {}
    for r in results:
        by_image.setdefault(r["image_id"], []).append(r)
    lists: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
    for kind, ids, listed in (("worst", worst, lists[0]), ("best", best, lists[1])):
        for rank, image_id in enumerate(ids, 1):
            info = gt.imgs[image_id]
            picture = out / kind / f"{rank:02d}_{Path(info['file_name']).stem}.png"
            image = read_image(paths[image_id])
            gt_inst = _gt_instances(gt, image_id, image.shape[:2])
            preds = [r for r in by_image.get(image_id, []) if r["score"] >= opts.score_thr]
            pred_inst = _pred_instances(preds, sorted(gt.getCatIds()), image.shape[:2])
            image, gt_inst, pred_inst = enlarged(image, gt_inst, pred_inst)
            titles = (f"ground truth: {len(gt_inst)} objects",
                      f"predictions, score >= {opts.score_thr:g}: {len(pred_inst)}")  # fmt: skip
            head = f"{info['file_name']}: {IOU_TYPES[rank_by]} AP {ap[image_id]:.3f} ({kind} {rank} of {len(ranked)})"
            gt_colors, pred_colors = object_colors(gt_inst, pred_inst)
            drawn = (draw(image, gt_inst, names, 0.0, scores=False, colors=gt_colors),
                     draw(image, pred_inst, names, 0.0, colors=pred_colors))  # fmt: skip
            plot_side_by_side(*drawn, titles, head, picture)
            listed.append({"image_id": image_id, "file_name": info["file_name"], "AP": ap[image_id],
                           "picture": str(picture)})  # fmt: skip
    return lists


def object_colors(gt: Instances, pred: Instances, iou_thr: float = 0.5) -> tuple[list[Color], list[Color]]:
    """One colour per ground-truth object, and each prediction in the colour of the object it found (its
    best box IoU >= ``iou_thr``, whatever the class, greedily by score), so that an object looks the same in
    both panels; a prediction that found none gets a colour of its own."""
    colors = palette(len(gt) + len(pred))
    iou = pairwise_iou(pred.boxes, gt.boxes) if len(gt) and len(pred) else torch.zeros(len(pred), len(gt))
    found = greedy_match(iou, pred.scores, iou_thr).tolist()
    return colors[: len(gt)], [colors[k] if k >= 0 else colors[len(gt) + j] for j, k in enumerate(found)]


def _image_paths(gt: Any, raw: list[dict[str, Any]], results: list[dict[str, Any]], data_root: str | None,
                 ids: list[int]) -> dict[int, Path]:  # fmt: skip
    """Where each image is: ``data_root``/file_name, else the path a result named it by."""
    named = {r["image_id"]: Path(str(q["file_name"])) for q, r in zip(raw, results) if "file_name" in q}
    paths = {}
    for i in ids:
        rel = gt.imgs[i]["file_name"]
        candidates = [Path(data_root) / rel] if data_root else [p for p in (named.get(i),) if p is not None]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            where = f"in --data-root {data_root}" if data_root else "(the results name no path to it)"
            raise GnrcnnError(f"image {rel} (id {i}) not found {where}: give --data-root, the folder of the "
                              f"ground truth's file_names")  # fmt: skip
        paths[i] = found
    return paths


def _gt_instances(gt: Any, image_id: int, shape: tuple[int, int]) -> Instances:
    anns = [a for a in gt.imgToAnns[image_id] if not a.get("iscrowd", 0)]
    cat_index = {c: k for k, c in enumerate(sorted(gt.getCatIds()))}
    masks = np.stack([gt.annToMask(a) for a in anns]) if anns else np.zeros((0, *shape), np.uint8)
    return _instances([a["bbox"] for a in anns], [1.0] * len(anns), [cat_index[a["category_id"]] for a in anns],
                      masks, shape)  # fmt: skip


def _pred_instances(preds: list[dict[str, Any]], cat_ids: list[int], shape: tuple[int, int]) -> Instances:
    index = {c: k for k, c in enumerate(cat_ids)}
    if preds and all("segmentation" in r for r in preds):
        masks = mask_utils.decode([r["segmentation"] for r in preds]).transpose(2, 0, 1)
    else:
        masks = np.zeros((len(preds), *shape), np.uint8)
    return _instances([r["bbox"] for r in preds], [r["score"] for r in preds],
                      [index[r["category_id"]] for r in preds], masks, shape)  # fmt: skip


def _instances(xywh: list, scores: list, labels: list, masks: np.ndarray, shape: tuple[int, int]) -> Instances:
    b = torch.tensor(xywh, dtype=torch.float32).reshape(-1, 4)
    boxes = torch.cat([b[:, :2], b[:, :2] + b[:, 2:]], 1)
    return Instances(boxes=boxes, scores=torch.tensor(scores, dtype=torch.float32), labels=torch.tensor(labels,
                     dtype=torch.int64), masks=torch.from_numpy(masks.astype(bool)), image_shape=shape)  # fmt: skip
