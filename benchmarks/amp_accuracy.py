"""Does reduced precision cost accuracy? COCO AP of one checkpoint in fp32 and in bf16 (and compiled).

    python benchmarks/amp_accuracy.py --weights results/demo/train/model_final.pth \
        --data-root results/demo/data --ann results/demo/data/annotations/val.json [--compile]

Prints box/mask AP for each precision and the share of fp32's detections (score >= 0.3) that bf16
reproduces (same class, box IoU >= 0.9) on the validation images.
"""

from __future__ import annotations

import argparse
import json

import torch

from gnrcnn import load_model
from gnrcnn.data.coco import CocoDataset
from gnrcnn.evaluation.evaluate import evaluate
from gnrcnn.evaluation.matching import compare_instances, total


def matched_share(a: list, b: list) -> float:
    """Share of a's detections scoring >= 0.3 that b has too (the one matcher: same label, box IoU >= 0.9)."""
    return total([compare_instances(x, y, box_iou=0.9, score_diff=None, min_score=0.3) for x, y in zip(a, b)]).found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--ann", required=True)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    images = [str(r.path) for r in CocoDataset(args.ann, args.data_root, train=False).records]
    runs = [("fp32", None, False), ("bf16", "bf16", False)]
    if args.compile:
        runs.append(("bf16+compile", "bf16", True))
    out, preds = {}, {}
    for name, amp, compiled in runs:
        det = load_model(weights=args.weights, amp=amp, compile=compiled)
        m = evaluate(det, args.ann, args.data_root)
        with torch.inference_mode():
            preds[name] = det.predict(images)
        out[name] = {"box_AP": m["bbox"]["AP"], "mask_AP": m["segm"]["AP"]}
        if name != "fp32":
            out[name]["matched_fp32_detections"] = matched_share(preds["fp32"], preds[name])
            out[name]["box_AP_diff"] = out[name]["box_AP"] - out["fp32"]["box_AP"]
            out[name]["mask_AP_diff"] = out[name]["mask_AP"] - out["fp32"]["mask_AP"]
        print(name, json.dumps(out[name]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
