"""Does OpenVINO INT8 cost accuracy? COCO AP of one checkpoint in PyTorch fp32 and as OpenVINO fp32,
bf16 and INT8 (calibrated on --calib).

    python benchmarks/int8_accuracy.py --weights results/demo/train/model_final.pth \
        --data-root results/demo/data --ann results/demo/data/annotations/val.json \
        --calib results/demo/data/train [--calib-count 100] [--keep DIR] [--json OUT]

Exports with the same functions as ``gnrcnn export --format openvino [--int8]``, evaluates with the
same code as ``gnrcnn eval``, and prints box/mask AP for each, its difference to PyTorch fp32 and the
share of fp32's detections (score >= 0.3) each reproduces (same class, box IoU >= 0.9).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from amp_accuracy import matched_share

from gnrcnn import load_model
from gnrcnn.data.coco import CocoDataset
from gnrcnn.evaluation.evaluate import evaluate
from gnrcnn.export.int8 import calibration_images
from gnrcnn.export.openvino import export_openvino


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--ann", required=True)
    ap.add_argument("--calib", required=True, help="a folder of images or a COCO JSON (the training set)")
    ap.add_argument("--calib-count", type=int, default=100)
    ap.add_argument("--keep", help="write the exported models here (default: a temporary folder)")
    ap.add_argument("--json")
    args = ap.parse_args()
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="int8_accuracy_"))
    ref = load_model(weights=args.weights)
    for name, calib in (("fp32.xml", None), ("int8.xml", calibration_images(args.calib, args.calib_count))):
        start = time.perf_counter()
        r = export_openvino(ref.cfg, ref.model, tmp / name, calib)
        print(f"{name}: exported in {time.perf_counter() - start:.0f} s ({r.check})", flush=True)
    images = [str(r.path) for r in CocoDataset(args.ann, args.data_root, train=False).records]
    runs = [("pytorch fp32", {"weights": args.weights}), ("openvino fp32", {"weights": tmp / "fp32.xml"}),
            ("openvino bf16", {"weights": tmp / "fp32.xml", "amp": "bf16"}),
            ("openvino int8", {"weights": tmp / "int8.xml"})]  # fmt: skip
    out, preds = {}, {}
    for name, kwargs in runs:
        det = load_model(**kwargs)
        m = evaluate(det, args.ann, args.data_root)
        with torch.inference_mode():
            preds[name] = det.predict(images)
        out[name] = {"box_AP": m["bbox"]["AP"], "mask_AP": m["segm"]["AP"]}
        if name != "pytorch fp32":
            base = out["pytorch fp32"]
            out[name]["matched_fp32_detections"] = matched_share(preds["pytorch fp32"], preds[name])
            out[name]["box_AP_diff"] = out[name]["box_AP"] - base["box_AP"]
            out[name]["mask_AP_diff"] = out[name]["mask_AP"] - base["mask_AP"]
        print(name, json.dumps(out[name]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
