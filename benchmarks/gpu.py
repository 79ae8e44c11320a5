"""GPU measurements for a lent accelerator (run by benchmarks/gpu.sh; < 8 minutes on an H100).

For R-50 and R-101 GN-all: inference images/s at the test scale (the bundled photo, 800x1203) in
fp32 (TF32 off, i.e. exact), fp32 with TF32, bf16 autocast and bf16 + torch.compile; training s/iter
and peak memory at 2 images of 800x1333 in fp32 and bf16; agreement of bf16 with fp32 (share of
detections matched); and the public reference case on CUDA (fp32, TF32 off).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from gnrcnn import load_config, load_model  # noqa: E402
from gnrcnn.data.image_io import read_image  # noqa: E402
from gnrcnn.predict.detector import Detector  # noqa
from gnrcnn.runtime import set_tf32  # noqa: E402
from gnrcnn.tools.bench import inference_speed, photo_path, training_speed  # noqa: E402

DEVICE = os.environ.get("GNRCNN_BENCH_DEVICE", "cuda")  # "cpu": a dry run of this script
RUNS = int(os.environ.get("GNRCNN_BENCH_RUNS", "20"))
RESULTS: dict = {"device": torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu", "torch": torch.__version__}


def say(*parts: object) -> None:
    print(*parts, flush=True)


def agreement(a, b) -> float:
    """Share of a's detections scoring >= 0.3 that b has too (the one matcher: same label, box IoU >= 0.9)."""
    from gnrcnn.evaluation.matching import compare_instances

    return compare_instances(a, b, box_iou=0.9, score_diff=None, min_score=0.3).found


def inference(depth: int, with_compile: bool) -> None:
    import refweights

    name = f"mask-rcnn_r{depth}_fpn_gn-all_2x_coco"
    # The reference sample's kind of weights (deterministic, detecting): post-processing and mask
    # pasting get real work, as with trained weights.
    path = refweights.write_checkpoint(name, Path(f"/tmp/r{depth}_bench.pth"), bg_bias=4.0)
    cfg = load_config(name, ["model.channels_last=all"])
    model = load_model(name, weights=path, overrides=["model.channels_last=all"]).model
    image = read_image(photo_path())
    runs = {}
    modes = [("fp32", None, False, False), ("fp32+tf32", None, True, False), ("bf16", "bf16", True, False)]
    if with_compile and DEVICE == "cuda":
        modes.append(("bf16+compile", "bf16", True, True))
    for name, amp, tf32, compiled in modes:
        set_tf32(tf32)
        det = Detector(cfg, model, device=DEVICE, amp=amp, compile=compiled)
        t = time.perf_counter()
        speed = inference_speed(det, runs=RUNS, warmup=min(RUNS, 5 if not compiled else 8))
        out = det.predict(image, color="rgb")[0]
        runs[name] = {"fps": speed["fps"], "ms": speed["s_per_img"] * 1000, "detections": len(out),
                      "setup_s": time.perf_counter() - t}  # fmt: skip
        if name == "fp32":
            ref = out
        else:
            runs[name]["agreement_with_fp32"] = agreement(ref, out)
        say(
            f"R-{depth} inference {name:13s} {speed['fps']:7.1f} img/s ({speed['s_per_img'] * 1000:.1f} ms), "
            f"{len(out)} detections",
            "" if name == "fp32" else f"agreement {runs[name]['agreement_with_fp32']:.3f}",
        )
    RESULTS[f"r{depth}_inference"] = runs


def training(depth: int) -> None:
    cfg = load_config(f"mask-rcnn_r{depth}_fpn_gn-all_2x_coco", ["model.channels_last=all"])
    out = {}
    for amp in (None, "bf16"):
        r = training_speed(cfg, DEVICE, amp, iters=min(RUNS, 5))
        out[amp or "fp32"] = r
        say(f"R-{depth} training {amp or 'fp32 (tf32)':12s} {r['s_per_iter']:.3f} s/iter, peak {r['peak_gb']:.2f} GB")
    RESULTS[f"r{depth}_training"] = out


def reference_on_cuda() -> None:
    import refweights
    from reference_match import match_detections

    path = refweights.write_checkpoint("mask-rcnn_r50_fpn_gn-all_2x_coco", Path("/tmp/r50_ref.pth"))
    det = load_model("mask-rcnn_r50_fpn_gn-all_2x_coco", weights=path, device=DEVICE)
    ref = json.loads((ROOT / "tests/assets/reference/astronaut_r50.json").read_text())
    inst = det.predict(ROOT / "tests/assets/reference/astronaut.png")[0].to("cpu")
    matched, ious = match_detections(inst, ref["detections"])
    RESULTS["reference_cuda"] = {"matched": matched, "of": len(ref["detections"]), "ours": len(inst),
                                 "min_mask_iou": min(ious) if ious else None}  # fmt: skip
    say(
        f"reference case on CUDA (fp32): {matched}/{len(ref['detections'])} detections matched, "
        f"{len(inst)} predicted, min mask IoU {min(ious) if ious else None}"
    )


def main() -> None:
    say(f"{RESULTS['device']}, torch {torch.__version__}")
    steps = [reference_on_cuda, lambda: inference(50, True), lambda: training(50), lambda: inference(101, False),
             lambda: training(101)]  # fmt: skip
    for step in steps:
        try:
            step()
        except Exception as e:
            say(f"step failed: {type(e).__name__}: {e}")
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("gpu_results.json")
    out.write_text(json.dumps(RESULTS, indent=2))
    say(f"wrote {out}")


if __name__ == "__main__":
    main()
