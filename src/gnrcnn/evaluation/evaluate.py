"""COCO box and mask AP with COCOeval, so the numbers are the standard ones: faster-coco-eval's C++
port when installed, pycocotools' otherwise (``coco_eval.py``; both give the same AP).

``evaluate`` runs a detector over a dataset (sharded over ranks under torchrun, results gathered
on rank 0); ``coco_metrics`` scores any results list against a ground-truth file.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from .. import distributed as dist
from ..data.coco import CocoDataset
from ..data.image_io import read_image
from ..errors import GnrcnnError
from ..fileio import write_json_atomic, write_json_list_atomic
from ..predict.detector import Detector
from ..progress import progress
from .coco_eval import choose, load_gt, per_class_ap, run_cocoeval

METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def coco_metrics(
    ann_file: str | Path, results: list[dict[str, Any]], iou_types: tuple[str, ...] = ("bbox", "segm"),
    per_class: bool = False, evaluator: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """{"bbox": {"AP": ..., ...}, "segm": {...}} as fractions; with ``per_class``, also per-class AP.

    ``evaluator``: "faster-coco-eval", "pycocotools" or None/"auto" (``coco_eval.choose``).
    """
    evaluator = choose(evaluator)
    gt = load_gt(ann_file, evaluator)
    out: dict[str, Any] = {}
    for iou_type in iou_types:
        res = [r for r in results if iou_type == "bbox" or "segmentation" in r]
        if not res:
            out[iou_type] = dict.fromkeys(METRICS, 0.0)
            continue
        ev = run_cocoeval(gt, res, iou_type, evaluator)
        out[iou_type] = {m: float(v) for m, v in zip(METRICS, ev.stats[:6])}
        if per_class:
            out[iou_type]["per_class"] = per_class_ap(ev, gt)
    return out


def format_per_class(metrics: dict[str, Any]) -> str:
    """Per-class box and mask AP as an aligned table (needs ``coco_metrics(..., per_class=True)``)."""
    names = list(metrics["bbox"]["per_class"])
    width = max(len(n) for n in names)
    rows = [f"{'class':<{width}}  box AP  mask AP"]
    for n in names:
        rows.append(f"{n:<{width}}  {metrics['bbox']['per_class'][n]:6.3f}  {metrics['segm']['per_class'][n]:7.3f}")
    return "\n".join(rows)


def format_table(metrics: dict[str, Any]) -> str:
    lines = ["       " + "  ".join(f"{m:>6}" for m in METRICS)]
    for iou_type, name in (("bbox", "box"), ("segm", "mask")):
        if iou_type in metrics:
            lines.append(f"{name:>5}  " + "  ".join(f"{metrics[iou_type][m]:6.3f}" for m in METRICS))
    return "\n".join(lines)


@torch.inference_mode()
def predict_dataset(detector: Detector, dataset: CocoDataset, desc: str = "eval") -> list[dict[str, Any]]:
    """COCO results of this rank's share of the images, gathered on every rank."""
    rank, size, _ = dist.world()
    records = dataset.records[rank::size]
    results: list[dict[str, Any]] = []
    for rec in progress(records, desc=desc, unit="img", disable=not dist.is_main(), file=sys.stderr, leave=False):
        try:
            image = read_image(rec.path)
        except GnrcnnError as e:
            print(f"warning: {e}; counted as no detections", file=sys.stderr)
            continue
        inst = detector.predict(image, color="rgb")[0]
        results += replace(inst, name="").to_coco(image_id=rec.image_id)
    gathered = dist.gather_objects(results)
    return [r for part in gathered for r in part]  # type: ignore[union-attr]


def evaluate(
    detector: Detector, ann_file: str | Path, data_root: str | Path, out_dir: str | Path | None = None,
    per_class: bool = False, evaluator: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Predict over the dataset and score it; rank 0 writes results and metrics under ``out_dir``."""
    dataset = CocoDataset(ann_file, data_root, train=False)
    dataset.raise_if_errors()
    if detector.cfg.data.category_ids != dataset.category_ids and not set(detector.cfg.data.category_ids) <= set(
        dataset.category_ids
    ):
        raise GnrcnnError(
            f"{ann_file}: the model's category ids {detector.cfg.data.category_ids[:8]}... are not the dataset's "
            f"{dataset.category_ids[:8]}..."
        )
    results = predict_dataset(detector, dataset)
    metrics: dict[str, Any] = {}
    if dist.is_main():
        metrics = coco_metrics(ann_file, results, per_class=per_class, evaluator=evaluator)
        metrics["num_images"] = len(dataset)
        if out_dir is not None:
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            write_json_list_atomic(results, out / "results.json")  # streamed: no second copy as one string
            write_json_atomic(metrics, out / "metrics.json", "metrics", indent=2)
    return metrics
