"""Test-time augmentation's gain and cost (docs/inference.md).

    # AP: a trained model on a validation set, without and with --tta
    PYTHONPATH=src python benchmarks/tta.py ap --weights model_final.pth --ann val.json --data-root DATA
    # time: R-50 with the reference weights (gnrcnn.weights.reference) on the bundled photo at the test scale
    PYTHONPATH=src python benchmarks/tta.py time [--rounds 3]
    PYTHONPATH=src python benchmarks/tta.py time --dry-run

The time is the median of alternating rounds (plain, TTA, plain, TTA, ...: ``tools/harness.py``) in one
process, after a warm-up of each: TTA with the config's ``predict.tta_scales`` and, with ``--scales``,
with those too. ``ap`` takes ``--scales`` instead of the config's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from gnrcnn import load_model
from gnrcnn.config.schema import PredictConfig
from gnrcnn.data.image_io import bundled_photo, read_image
from gnrcnn.evaluation.evaluate import evaluate
from gnrcnn.predict.loop import make_runner
from gnrcnn.tools import harness
from gnrcnn.weights import reference


def settings(tta: bool, scales: list[float] | None) -> PredictConfig:
    return PredictConfig(tta=tta, **({"tta_scales": scales} if scales else {}))


def ap(args: argparse.Namespace) -> dict:
    det = load_model(weights=args.weights)
    out = {}
    for name, tta in (("plain", False), ("tta", True)):
        start = time.perf_counter()
        m = evaluate(det, args.ann, args.data_root, settings=settings(tta, args.scales))
        seconds = time.perf_counter() - start
        out[name] = {"box_AP": m["bbox"]["AP"], "mask_AP": m["segm"]["AP"], "box_AP50": m["bbox"]["AP50"],
                     "mask_AP50": m["segm"]["AP50"], "images": m["num_images"], "s": seconds}  # fmt: skip
        print(name, json.dumps(out[name]), flush=True)
    out["change"] = {k: out["tta"][k] - out["plain"][k] for k in ("box_AP", "mask_AP", "box_AP50", "mask_AP50")}
    return out


def timing(args: argparse.Namespace) -> dict:
    name = "mask-rcnn_r50_fpn_gn-all_2x_coco"
    if args.dry_run:
        det = load_model(harness.DRY_CONFIG, weights="none", overrides=harness.DRY_OVERRIDES)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            det = load_model(name, weights=reference.write_checkpoint(name, Path(tmp) / "r50.pth"))
    image = read_image(bundled_photo())
    runners = {"plain": make_runner(det, 1, settings(False, None)), "tta": make_runner(det, 1, settings(True, None))}
    if args.scales:
        runners["tta " + " ".join(map(str, args.scales))] = make_runner(det, 1, settings(True, args.scales))
    found = {}

    def job(k: str) -> None:
        found[k] = len(runners[k].run([runners[k].prepare(image, "photo", keep_image=False)])[0])

    with torch.inference_mode():
        times = harness.alternate({k: (lambda k=k: job(k)) for k in runners}, args.rounds, warmup=1, log=True)
    out = {k: {"median_s": statistics.median(v), "runs_s": v, "detections": found[k]} for k, v in times.items()}
    for k in times:
        out[k]["over_plain"] = out[k]["median_s"] / out["plain"]["median_s"]
    out["image"] = list(image.shape[:2])
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out), flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    ap_ = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap_.add_argument("what", choices=["ap", "time"], nargs="?")
    ap_.add_argument("--weights")
    ap_.add_argument("--ann")
    ap_.add_argument("--data-root")
    ap_.add_argument("--scales", type=float, nargs="+")
    ap_.add_argument("--rounds", type=int, default=3)
    ap_.add_argument("--json")
    harness.add_dry_run(ap_)
    args = ap_.parse_args(argv)
    if args.dry_run:
        args.what, args.rounds = "time", 1
    out = ap(args) if args.what == "ap" else timing(args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
