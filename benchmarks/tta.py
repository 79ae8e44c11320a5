"""Test-time augmentation's gain and cost (docs/inference.md).

    # AP: a trained model on a validation set, without and with --tta
    PYTHONPATH=src python benchmarks/tta.py ap --weights model_final.pth --ann val.json --data-root DATA
    # time: R-50 with the reference weights (gnrcnn.weights.reference) on the bundled photo at the test scale
    PYTHONPATH=src python benchmarks/tta.py time [--rounds 3]

The time is the median of alternating rounds (plain, TTA, plain, TTA, ...) in one process, after a warm-up
of each: TTA with the config's ``predict.tta_scales`` and, with ``--scales``, with those too. ``ap`` takes
``--scales`` instead of the config's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from gnrcnn import load_model  # noqa: E402
from gnrcnn.config.schema import PredictConfig  # noqa: E402
from gnrcnn.data.image_io import read_image  # noqa: E402
from gnrcnn.evaluation.evaluate import evaluate  # noqa: E402
from gnrcnn.predict.loop import make_runner  # noqa: E402
from gnrcnn.tools.bench import photo_path  # noqa: E402


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
    import refweights

    name = "mask-rcnn_r50_fpn_gn-all_2x_coco"
    with tempfile.TemporaryDirectory() as tmp:
        det = load_model(name, weights=refweights.write_checkpoint(name, Path(tmp) / "r50.pth"))
    image = read_image(photo_path())
    runners = {"plain": make_runner(det, 1, settings(False, None)), "tta": make_runner(det, 1, settings(True, None))}
    if args.scales:
        runners["tta " + " ".join(map(str, args.scales))] = make_runner(det, 1, settings(True, args.scales))
    times: dict[str, list[float]] = {k: [] for k in runners}
    found = {}
    with torch.inference_mode():
        for r in range(args.rounds + 1):
            for k, runner in runners.items():
                start = time.perf_counter()
                result = runner.run([runner.prepare(image, "photo", keep_image=False)])[0]
                if r:  # round 0 warms up
                    times[k].append(time.perf_counter() - start)
                found[k] = len(result)
    out = {k: {"median_s": statistics.median(v), "runs_s": v, "detections": found[k]} for k, v in times.items()}
    for k in times:
        out[k]["over_plain"] = out[k]["median_s"] / out["plain"]["median_s"]
    out["image"] = list(image.shape[:2])
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    ap_ = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap_.add_argument("what", choices=["ap", "time"])
    ap_.add_argument("--weights")
    ap_.add_argument("--ann")
    ap_.add_argument("--data-root")
    ap_.add_argument("--scales", type=float, nargs="+")
    ap_.add_argument("--rounds", type=int, default=3)
    ap_.add_argument("--json")
    args = ap_.parse_args()
    out = ap(args) if args.what == "ap" else timing(args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
