"""COCO evaluation at scale: pycocotools' COCOeval against faster-coco-eval on a synthetic results file.

    python benchmarks/eval_speed.py [--images 5000] [--dets 100] [--classes 80] [--seed 0] [--json out.json]

The ground truth: ``--images`` images of 640 x 480 with 1-15 objects each (mean ~8) of ``--classes``
classes, each an octagon inscribed in its box (a polygon, as COCO's annotations are). The results:
``--dets`` detections per image, a mix of jittered copies of the ground-truth boxes (some with a
wrong class) and random boxes, scored higher near objects than elsewhere, each with the RLE of its
own octagon (pycocotools' C ``frPyObjects`` on all of an image's polygons at once, so generating
500,000 masks takes seconds).

Each evaluator runs gnrcnn's own ``coco_metrics`` path (load the ground truth, load the results,
evaluate, accumulate, summarize) for box and for mask AP, one after the other in this process;
the table gives the wall time of each and the largest difference of the six AP numbers gnrcnn
reports (AP, AP50, AP75, APs, APm, APl) and of the per-class AP. Timings on a shared machine are
disturbed by its other load: rerun when quiet.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from gnrcnn.evaluation.coco_eval import available
from gnrcnn.evaluation.evaluate import coco_metrics
from gnrcnn.tools.harness import add_dry_run

W, H = 640, 480


def octagons(boxes: np.ndarray) -> np.ndarray:
    """(n, 4) xywh -> (n, 16) flat polygons of the octagon inscribed in each box."""
    x, y, w, h = boxes.T
    fx = np.array([0.3, 0.7, 1, 1, 0.7, 0.3, 0, 0])
    fy = np.array([0, 0, 0.3, 0.7, 1, 1, 0.7, 0.3])
    px, py = x[:, None] + w[:, None] * fx, y[:, None] + h[:, None] * fy
    return np.stack([px, py], 2).reshape(len(boxes), 16)


def random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    wh = np.exp(rng.uniform(np.log(8), np.log(300), (n, 2)))
    xy = rng.uniform(0, 1, (n, 2)) * np.maximum(np.array([W, H]) - wh, 1)
    return np.round(np.concatenate([xy, np.minimum(wh, [W, H])], 1), 2)


def make_data(n_images: int, n_dets: int, n_classes: int, seed: int) -> tuple[dict, list[dict]]:
    rng = np.random.default_rng(seed)
    images = [{"id": i + 1, "file_name": f"{i + 1}.jpg", "width": W, "height": H} for i in range(n_images)]
    cats = [{"id": c + 1, "name": f"class{c + 1}"} for c in range(n_classes)]
    anns, results = [], []
    for img in images:
        n_gt = int(rng.integers(1, 16))
        gt_boxes, gt_cls = random_boxes(rng, n_gt), rng.integers(1, n_classes + 1, n_gt)
        polys = octagons(gt_boxes)
        for b, c, p in zip(gt_boxes.tolist(), gt_cls.tolist(), polys.tolist()):
            anns.append({"id": len(anns) + 1, "image_id": img["id"], "category_id": c, "bbox": b,
                         "area": 0.82 * b[2] * b[3], "iscrowd": 0, "segmentation": [p]})  # fmt: skip
        # About half the detections near a ground-truth object (10% of them with a wrong class).
        n_near = n_dets // 2
        src = rng.integers(0, n_gt, n_near)
        jitter = rng.normal(0, 0.12, (n_near, 4)) * np.repeat(gt_boxes[src, 2:], 2, axis=1)
        near = gt_boxes[src] + jitter
        near[:, 2:] = np.maximum(near[:, 2:], 2)
        cls = np.where(rng.random(n_near) < 0.9, gt_cls[src], rng.integers(1, n_classes + 1, n_near))
        boxes = np.round(np.concatenate([near, random_boxes(rng, n_dets - n_near)]), 2)
        classes = np.concatenate([cls, rng.integers(1, n_classes + 1, n_dets - n_near)])
        # A detector's scores: higher near objects than elsewhere, so the AP is a plausible one.
        scores = np.round(np.concatenate([rng.uniform(0.2, 1.0, n_near), rng.uniform(0.0, 0.7, n_dets - n_near)]), 5)
        rles = mask_utils.frPyObjects(octagons(boxes).tolist(), H, W)  # one RLE per polygon, in C
        for b, c, s, r in zip(boxes.tolist(), classes.tolist(), scores.tolist(), rles):
            results.append({"image_id": img["id"], "category_id": c, "bbox": b, "score": s,
                            "segmentation": {"size": r["size"], "counts": r["counts"].decode()}})  # fmt: skip
    return {"images": images, "categories": cats, "annotations": anns}, results


def timed(ann: Path, results: list[dict], iou_type: str, evaluator: str) -> tuple[float, float, dict]:
    """Wall and CPU seconds (this process, all threads) of one ``coco_metrics`` call, and its metrics."""
    t, c = time.perf_counter(), time.process_time()
    m = coco_metrics(ann, results, (iou_type,), per_class=True, evaluator=evaluator)
    return time.perf_counter() - t, time.process_time() - c, m[iou_type]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--dets", type=int, default=100)
    ap.add_argument("--classes", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the figures here")
    add_dry_run(ap)
    args = ap.parse_args(argv)
    if args.dry_run:
        args.images, args.dets, args.classes = 4, 5, 3
    if "faster-coco-eval" not in available():
        raise SystemExit("faster-coco-eval is not installed: pip install 'gnrcnn[fasteval]'")
    t = time.perf_counter()
    gt, results = make_data(args.images, args.dets, args.classes, args.seed)
    print(f"generated {len(gt['images'])} images, {len(gt['annotations'])} objects, {len(results)} detections "
          f"with RLE masks in {time.perf_counter() - t:.1f} s")  # fmt: skip
    out: dict = {"images": args.images, "detections": len(results), "objects": len(gt["annotations"])}
    with tempfile.TemporaryDirectory() as tmp:
        ann = Path(tmp) / "gt.json"
        ann.write_text(json.dumps(gt))
        rows = ["| | pycocotools wall / CPU | faster-coco-eval wall / CPU | speed-up (wall) | "
                "max abs. difference (6 AP / per-class AP) |", "|---|---|---|---|---|"]  # fmt: skip
        for iou_type in ("bbox", "segm"):
            t_ref, c_ref, ref = timed(ann, results, iou_type, "pycocotools")
            t_fast, c_fast, fast = timed(ann, results, iou_type, "faster-coco-eval")
            d_stats = max(abs(ref[k] - fast[k]) for k in ref if k != "per_class")
            pc = np.array([[ref["per_class"][c], fast["per_class"][c]] for c in ref["per_class"]])
            d_cls = float(np.nanmax(np.abs(pc[:, 0] - pc[:, 1])))
            out[iou_type] = {"pycocotools_s": t_ref, "pycocotools_cpu_s": c_ref, "faster_s": t_fast,
                             "faster_cpu_s": c_fast, "AP": ref["AP"], "AP_faster": fast["AP"],
                             "max_diff_stats": d_stats, "max_diff_per_class": d_cls}  # fmt: skip
            rows.append(f"| {iou_type} (AP {ref['AP']:.4f}) | {t_ref:.1f} s / {c_ref:.1f} s | {t_fast:.1f} s / "
                        f"{c_fast:.1f} s | {t_ref / t_fast:.1f}x | {d_stats:.1e} / {d_cls:.1e} |")  # fmt: skip
            print(rows[-1], flush=True)
    print("\n".join(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
