"""Full-size agreement of `gnrcnn export` + `gnrcnn predict --weights model.onnx|.xml` with gnrcnn's PyTorch path.

    python benchmarks/onnx_parity.py [--configs mask-rcnn_r50_fpn_gn-all_2x_coco mask-rcnn_r101_fpn_gn-all_2x_coco]
                                     [--formats onnx openvino int8] [--weights CKPT ...] [--work DIR] [--json OUT]

For each config: the weights (default: the test suite's deterministic reference weights,
gnrcnn.weights.reference, which fire all over a photo), `gnrcnn export`, then `gnrcnn predict` twice on the
same folder of photos, once with `--weights model.onnx` (onnxruntime) and once with `--config NAME
--weights CKPT` (PyTorch fp32), at the config's own 800 x 1333 scale. `--formats` adds OpenVINO: the
IR in fp32 (`--out model.xml`) and INT8 (`--int8 --calib` the same photos), each run by `gnrcnn
predict`. The folder holds the reference photos of tests/assets, the two other bundled photos and crops
and rescales of them (13 images, aspect ratios from 1:2.5 to 2.56:1). Detections are matched
one-to-one per image (same class, box IoU >= 0.98, |score difference| <= 0.01, as issue 14 states
parity; "loose": IoU >= 0.9, |score difference| <= 0.1, for INT8); the mask IoU of each matched
pair is computed from the RLEs in predictions.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from pycocotools import mask as mask_utils

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from gnrcnn.cli import main  # noqa: E402
from gnrcnn.data.image_io import read_image  # noqa: E402
from gnrcnn.evaluation.matching import match  # noqa: E402

import refweights  # noqa: E402

DATA = ROOT / "tests" / "assets"
MORE = DATA / "reference" / "more"
SOURCES = [DATA / "reference" / "astronaut.png", *sorted(MORE.glob("astronaut_*.png")), *sorted(MORE.glob("*.jpg")),
           DATA / "coffee.png", ROOT / "src" / "gnrcnn" / "assets" / "chelsea.png"]  # fmt: skip


def write_photos(folder: Path) -> list[Path]:
    """The bundled photos plus crops and rescales of them, as PNG (the JPEG keeps its EXIF orientation)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for src in SOURCES:
        dst = folder / src.name
        dst.write_bytes(src.read_bytes())
        out.append(dst)
    astronaut, coffee, cat = (read_image(p) for p in (SOURCES[0], DATA / "coffee.png", SOURCES[-1]))
    derived = {
        "astronaut_half.png": cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA),
        "astronaut_wide.png": astronaut[150:350],  # 200 x 512: 1:2.56
        "coffee_tall.png": coffee[:, 180:340],  # 400 x 160: 2.5:1
        "coffee_large.png": cv2.resize(coffee, (1500, 1000), interpolation=cv2.INTER_CUBIC),
        "cat_crop.png": cat[40:260, 100:380],
        "cat_small.png": cv2.resize(cat, (150, 100), interpolation=cv2.INTER_AREA),
    }
    for name, rgb in derived.items():
        cv2.imwrite(str(folder / name), np.ascontiguousarray(rgb[:, :, ::-1]))
        out.append(folder / name)
    return out


def as_tensors(records: list[dict], files: list[str]) -> tuple[torch.Tensor, ...]:
    xywh = torch.tensor([r["bbox"] for r in records]).reshape(-1, 4)
    boxes = torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
    return (boxes, torch.tensor([r["score"] for r in records]), torch.tensor([r["category_id"] for r in records]),
            torch.tensor([files.index(r["file_name"]) for r in records]))  # fmt: skip


def mask_iou(a: dict, b: dict) -> float:
    """IoU of two RLE masks; two empty masks (a box too small to cover a pixel centre) agree fully."""
    if mask_utils.area(a) == 0 and mask_utils.area(b) == 0:
        return 1.0
    return float(mask_utils.iou([a], [b], [0])[0][0])


def compare(ref: list[dict], got: list[dict]) -> dict:
    files = sorted({r["file_name"] for r in ref + got})
    a, b = as_tensors(ref, files), as_tensors(got, files)
    pairs, loose = match(a, b), match(a, b, box_iou=0.9, score_diff=0.1)
    ious = [mask_iou(ref[i]["segmentation"], got[j]["segmentation"]) for i, j in pairs]
    n = max(len(ref), len(got))
    return {"images": len(files), "pytorch": len(ref), "exported": len(got), "matched": len(pairs),
            "matched_pct": 100.0 * len(pairs) / max(n, 1),
            "loose_pct": 100.0 * len(loose) / max(n, 1), "mean_mask_iou": float(np.mean(ious)) if ious else 1.0,
            "min_mask_iou": float(np.min(ious)) if ious else 1.0}  # fmt: skip


EXPORTS = {"onnx": ("model.onnx", []), "openvino": ("model.xml", []), "int8": ("model_int8.xml", ["--int8"])}


def run(config: str, weights: Path | None, work: Path, photos: Path, formats: list[str]) -> list[dict]:
    if weights is None:
        weights = refweights.write_checkpoint(config, work / f"{config}.pth")
    start = time.perf_counter()
    assert main(["predict", "--config", config, "--weights", str(weights), str(photos), "--out",
                 str(work / f"{config}_torch"), "--device", "cpu"]) == 0  # fmt: skip
    torch_s = time.perf_counter() - start
    ref = json.loads((work / f"{config}_torch" / "predictions.json").read_text())
    rows = []
    for fmt in formats:
        name, extra = EXPORTS[fmt]
        model = work / f"{config}_{name}"
        calib = ["--calib", str(photos)] if fmt == "int8" else []
        start = time.perf_counter()
        assert main(["export", "--config", config, "--weights", str(weights), "--out", str(model), *extra, *calib]) == 0
        export_s = time.perf_counter() - start
        start = time.perf_counter()
        assert main(["predict", "--weights", str(model), str(photos), "--out", str(work / f"{config}_{fmt}"),
                     "--device", "cpu"]) == 0  # fmt: skip
        predict_s = time.perf_counter() - start
        got = json.loads((work / f"{config}_{fmt}" / "predictions.json").read_text())
        size = sum(f.stat().st_size for f in (model, model.with_suffix(".bin")) if f.exists())
        rows.append({"config": config, "format": fmt, **compare(ref, got), "export_s": export_s,
                     "file_mb": size / 2**20, "predict_s": predict_s, "predict_s_torch": torch_s})  # fmt: skip
    return rows


def table(rows: list[dict]) -> str:
    head = "| config | runtime | images | PyTorch dets | its dets | matched | loose | mean mask IoU | min mask IoU |"
    lines = [head + " export | file |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['config']} | {r['format']} | {r['images']} | {r['pytorch']} | {r['exported']} "
                     f"| {r['matched']} "
                     f"({r['matched_pct']:.2f}%) | {r['loose_pct']:.1f}% | {r['mean_mask_iou']:.4f} | "
                     f"{r['min_mask_iou']:.4f} | "
                     f"{r['export_s']:.0f} s | {r['file_mb']:.0f} MB |")  # fmt: skip
    return "\n".join(lines)


def cli() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configs", nargs="+", default=["mask-rcnn_r50_fpn_gn-all_2x_coco",
                                                     "mask-rcnn_r101_fpn_gn-all_2x_coco"])  # fmt: skip
    ap.add_argument(
        "--formats",
        nargs="+",
        default=["onnx"],
        choices=list(EXPORTS),
        help="what to export and compare with PyTorch (int8: OpenVINO INT8 calibrated on the photos)",
    )
    ap.add_argument("--weights", nargs="*", default=None, help="one checkpoint per config (default: reference weights)")
    ap.add_argument("--work", default="results/onnx_parity", help="folder for the photos, models and predictions")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    photos = write_photos(work / "photos")
    print(f"{len(photos)} photos in {work / 'photos'}", flush=True)
    weights = args.weights or [None] * len(args.configs)
    rows = [r for c, w in zip(args.configs, weights) for r in run(c, Path(w) if w else None, work, work / "photos",
                                                                  args.formats)]  # fmt: skip
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    cli()
