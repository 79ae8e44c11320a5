"""COCO box and mask AP with COCOeval, so the numbers are the standard ones: faster-coco-eval's C++
port when installed, pycocotools' otherwise (``coco_eval.py``; both give the same AP).

``evaluate`` runs a detector over a dataset through the one inference loop (``predict/loop.py``, so
``--tile``, ``--tta``, ``--batch-size`` and ``--workers`` mean what they mean to ``gnrcnn predict``),
sharded over ranks under torchrun with the results gathered on rank 0; ``coco_metrics`` scores any
results list against a ground truth (a file, or a ``GroundTruth`` read once per training run).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .. import distributed as dist
from ..coco_results import read_results
from ..config.schema import METRICS, PredictConfig
from ..data.image_io import read_image
from ..data.records import ImageRecord
from ..errors import GnrcnnError
from ..fileio import write_json_atomic, write_json_list_atomic
from ..predict.loop import LoopStats, make_runner, run_images
from ..predict.outputs import records_and_picture
from ..predict.runner import DetectorLike, Prepared, Runner
from ..progress import progress
from .coco_eval import choose, load_gt, per_class_ap, run_cocoeval
from .ground_truth import GroundTruth, attach_image_ids


def coco_metrics(
    gt: str | Path | Any, results: list[dict[str, Any]], iou_types: tuple[str, ...] = ("bbox", "segm"),
    per_class: bool = False, evaluator: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """{"bbox": {"AP": ..., ...}, "segm": {...}} as fractions; with ``per_class``, also per-class AP.

    ``gt``: an annotation file, or the evaluator's COCO object already read (``GroundTruth.coco``, with
    its ``evaluator``). ``evaluator``: "faster-coco-eval", "pycocotools" or None/"auto" (``coco_eval.choose``).
    """
    evaluator = choose(evaluator)
    coco = load_gt(gt, evaluator) if isinstance(gt, (str, Path)) else gt
    out: dict[str, Any] = {}
    for iou_type in iou_types:
        res = [r for r in results if iou_type == "bbox" or "segmentation" in r]
        if not res:
            out[iou_type] = dict.fromkeys(METRICS, 0.0)
            continue
        ev = run_cocoeval(coco, res, iou_type, evaluator)
        out[iou_type] = {m: float(v) for m, v in zip(METRICS, ev.stats[:6])}
        if per_class:
            out[iou_type]["per_class"] = per_class_ap(ev, coco)
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


def predict_dataset(runner: Runner, records: list[ImageRecord], workers: int = 2, desc: str = "eval"
                    ) -> list[dict[str, Any]]:  # fmt: skip
    """COCO results of this rank's share of ``records`` through the one loop (``predict.loop``), keyed by
    ``image_id`` and ``file_name``, gathered on every rank. An unreadable image counts as no detections."""
    rank, size, _ = dist.world()
    mine = records[rank::size]

    def load(rec: ImageRecord) -> Prepared:
        prepared = runner.prepare(read_image(rec.path), rec.file_name, keep_image=False)
        prepared.image_id = rec.image_id
        return prepared

    stats = LoopStats()
    results: list[dict[str, Any]] = []
    bar = progress(total=len(mine), desc=desc, unit="img", disable=not dist.is_main(), file=sys.stderr, leave=False)
    with bar:
        for prepared, result in run_images(runner, mine, load, workers, stats):
            results += records_and_picture(result, None, 0.0, prepared.name, image_id=prepared.image_id)[0]
            bar.update(1)
    for e in stats.errors:
        print(f"warning: {e}; counted as no detections", file=sys.stderr)
    gathered = dist.gather_objects(results)
    return [r for part in gathered for r in part]  # type: ignore[union-attr]


def evaluate(
    detector: DetectorLike, gt: GroundTruth | str | Path, data_root: str | Path | None = None,
    out_dir: str | Path | None = None, per_class: bool = False, evaluator: str | None = None, *,
    batch_size: int = 1, workers: int = 2, settings: PredictConfig | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Predict over the dataset and score it; rank 0 writes results and metrics under ``out_dir``.

    ``gt``: a ``GroundTruth`` read once (a training run's), or an annotation file read here with
    ``data_root``. The images go through ``predict.loop`` as ``gnrcnn predict`` takes them: ``batch_size``,
    ``workers``, and ``settings`` (tiles, test-time augmentation; default: the detector config's ``predict``).
    """
    truth = gt if isinstance(gt, GroundTruth) else GroundTruth(gt, data_root or ".", evaluator)
    dataset = truth.dataset
    dataset.raise_if_errors()
    ids = detector.cfg.data.category_ids
    if ids != dataset.category_ids and not set(ids) <= set(dataset.category_ids):
        raise GnrcnnError(f"{truth.ann_file}: the model's category ids {ids[:8]}... are not the dataset's "
                          f"{dataset.category_ids[:8]}...")  # fmt: skip
    runner = make_runner(detector, batch_size, settings)
    results = predict_dataset(runner, list(dataset.records), workers)
    metrics: dict[str, Any] = {}
    if dist.is_main():
        metrics = coco_metrics(truth.coco, results, per_class=per_class, evaluator=truth.evaluator)
        metrics["num_images"] = len(dataset)
        if out_dir is not None:
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            write_json_list_atomic(results, out / "results.json")  # streamed: no second copy as one string
            write_json_atomic(metrics, out / "metrics.json", "metrics", indent=2)
    return metrics


def score_results_file(results_file: str | Path, ann_file: str | Path, per_class: bool = False,
                       evaluator: str | None = None) -> dict[str, Any]:  # fmt: skip
    """``gnrcnn eval --results``: a results file (keyed by image id, or by file name as ``gnrcnn predict``
    writes it) scored against ``ann_file``."""
    evaluator = choose(evaluator)
    coco = load_gt(ann_file, evaluator)
    results = attach_image_ids(read_results(results_file), coco.dataset, str(results_file))
    return coco_metrics(coco, results, per_class=per_class, evaluator=evaluator)
