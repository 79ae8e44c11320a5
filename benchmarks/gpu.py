"""GPU measurements for a lent accelerator (run by benchmarks/gpu.sh; < 8 minutes on an H100).

For R-50 and R-101 GN-all: inference images/s at the test scale (the bundled photo, 800x1203) in
fp32 (TF32 off, i.e. exact), fp32 with TF32, bf16 autocast and bf16 + torch.compile; training s/iter
and peak memory at 2 images of 800x1333 in fp32 and bf16; agreement of bf16 with fp32 (share of
detections matched); and the public reference case on CUDA (fp32, TF32 off).

    python benchmarks/gpu.py [OUT.json] [--dry-run]

``--dry-run``: the tiny config on the CPU, one run of each step (what the tests run).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from gnrcnn import load_config, load_model
from gnrcnn.data.image_io import bundled_photo, read_image
from gnrcnn.predict.detector import Detector
from gnrcnn.runtime import set_tf32
from gnrcnn.structures import Instances
from gnrcnn.tools.bench import inference_speed, training_speed
from gnrcnn.tools.harness import DRY_CONFIG, DRY_OVERRIDES, add_dry_run, scratch_folder
from gnrcnn.weights import reference

ROOT = Path(__file__).resolve().parents[1]
DEVICE, RUNS = "cuda", 20
RESULTS: dict = {"torch": torch.__version__}


def say(*parts: object) -> None:
    print(*parts, flush=True)


def agreement(a, b) -> float:
    """Share of a's detections scoring >= 0.3 that b has too (the one matcher: same label, box IoU >= 0.9)."""
    from gnrcnn.evaluation.matching import compare_instances

    return compare_instances(a, b, box_iou=0.9, score_diff=None, min_score=0.3).found


def _model(depth: int) -> tuple:
    """The config and model of R-``depth`` with the reference sample's kind of weights (deterministic,
    detecting: post-processing and mask pasting get real work, as with trained weights); 18: the dry run's."""
    if depth == 18:
        cfg = load_config(DRY_CONFIG, DRY_OVERRIDES)
        return cfg, load_model(cfg, weights="none").model
    name = f"mask-rcnn_r{depth}_fpn_gn-all_2x_coco"
    path = reference.write_checkpoint(name, Path(f"/tmp/r{depth}_bench.pth"), bg_bias=4.0)
    return load_config(name, ["model.channels_last=all"]), load_model(
        name, weights=path, overrides=["model.channels_last=all"]
    ).model


def inference(depth: int, with_compile: bool) -> None:
    cfg, model = _model(depth)
    image = read_image(bundled_photo())
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
    cfg = _model(depth)[0] if depth == 18 else load_config(f"mask-rcnn_r{depth}_fpn_gn-all_2x_coco",
                                                            ["model.channels_last=all"])  # fmt: skip
    out = {}
    for amp in (None, "bf16"):
        r = training_speed(cfg, DEVICE, amp, iters=min(RUNS, 5))
        out[amp or "fp32"] = r
        say(f"R-{depth} training {amp or 'fp32 (tf32)':12s} {r['s_per_iter']:.3f} s/iter, peak {r['peak_gb']:.2f} GB")
    RESULTS[f"r{depth}_training"] = out


def reference_instances(dets: list[dict], shape: tuple[int, int]) -> Instances:
    """The reference JSON's detections (MMDetection's outputs) as ``Instances``."""
    from pycocotools import mask as mask_utils

    masks = [torch.from_numpy(mask_utils.decode(d["mask_rle"]).astype(bool)) for d in dets]
    return Instances(torch.tensor([d["box_xyxy"] for d in dets], dtype=torch.float32).reshape(-1, 4),
                     torch.tensor([d["score"] for d in dets]), torch.tensor([d["label"] for d in dets]),
                     torch.stack(masks) if masks else torch.zeros((0, *shape), dtype=torch.bool), shape)  # fmt: skip


def reference_on_cuda() -> None:
    """The reference case (tests/modeling/test_reference.py's tolerances) on the GPU."""
    from gnrcnn.evaluation.matching import compare_instances

    path = reference.write_checkpoint("mask-rcnn_r50_fpn_gn-all_2x_coco", Path("/tmp/r50_ref.pth"))
    det = load_model("mask-rcnn_r50_fpn_gn-all_2x_coco", weights=path, device=DEVICE)
    ref = json.loads((ROOT / "tests/assets/reference/astronaut_r50.json").read_text())
    inst = det.predict(ROOT / "tests/assets/reference/astronaut.png")[0].to("cpu")
    agree = compare_instances(reference_instances(ref["detections"], inst.image_shape), inst, box_iou=0.98,
                              score_diff=0.01)  # fmt: skip
    matched, ious = agree.matched, agree.mask_ious
    RESULTS["reference_cuda"] = {"matched": matched, "of": len(ref["detections"]), "ours": len(inst),
                                 "min_mask_iou": min(ious) if ious else None}  # fmt: skip
    say(
        f"reference case on CUDA (fp32): {matched}/{len(ref['detections'])} detections matched, "
        f"{len(inst)} predicted, min mask IoU {min(ious) if ious else None}"
    )


def main(argv: list[str] | None = None) -> None:
    global DEVICE, RUNS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", nargs="?", help="the results (default: gpu_results.json; a dry run's: a temporary file)")
    add_dry_run(ap)
    args = ap.parse_args(argv)
    if args.dry_run:
        DEVICE, RUNS = "cpu", 1
        args.out = args.out or scratch_folder() + "/gpu.json"
    RESULTS["device"] = torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu"
    say(f"{RESULTS['device']}, torch {torch.__version__}")
    steps = [reference_on_cuda, lambda: inference(50, True), lambda: training(50), lambda: inference(101, False),
             lambda: training(101)]  # fmt: skip
    if args.dry_run:
        steps = [lambda: inference(18, False), lambda: training(18)]
    for step in steps:
        try:
            step()
        except Exception as e:
            if args.dry_run:
                raise
            say(f"step failed: {type(e).__name__}: {e}")
    out = Path(args.out or "gpu_results.json")
    out.write_text(json.dumps(RESULTS, indent=2))
    say(f"wrote {out}")


if __name__ == "__main__":
    main()
