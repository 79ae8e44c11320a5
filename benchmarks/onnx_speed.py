"""onnxruntime vs gnrcnn's PyTorch path: R-50 inference on the CPU, one process, same weights and photo.

    python benchmarks/onnx_speed.py [--config mask-rcnn_r50_fpn_gn-all_2x_coco] [--weights CKPT]
                                    [--threads 1 2] [--levels all extended basic disable] [--runs 5] [--json OUT]

Both take the decoded bundled photo (300 x 451, resized to 800 x 1203) and return full-size masks:
the same Python resize before the network and the same rescaling and mask pasting after it, so the
difference is the network itself. The model is exported once (its time is printed); then for every
thread count, PyTorch (fp32, eager) and onnxruntime at each graph optimisation level (plus "all"
with worker threads that sleep instead of spinning) run alternately, median of --runs after 2
warm-ups. The weights are the test suite's reference weights unless --weights is given: their
detections (100 per image) exercise the mask head as a real model's do.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from gnrcnn import keep_freed_memory, load_config, load_model  # noqa: E402
from gnrcnn.data.image_io import read_image  # noqa: E402
from gnrcnn.export.onnx import export_model, save_model  # noqa: E402
from gnrcnn.predict.onnx_detector import OnnxDetector  # noqa: E402
from gnrcnn.tools.bench import photo_path  # noqa: E402

import refweights  # noqa: E402


def timed(fn, image, runs: int, warmup: int = 2) -> list[float]:
    out = []
    for i in range(warmup + runs):
        t = time.perf_counter()
        fn(image)
        if i >= warmup:
            out.append(time.perf_counter() - t)
    return out


def measure(torch_det, onnx_path: Path, image, threads: int, levels: list[str], runs: int) -> list[dict]:
    torch.set_num_threads(threads)
    setups = {"pytorch": torch_det.predict}
    for level in levels:
        setups[f"onnxruntime {level}"] = OnnxDetector(onnx_path, threads=threads, optimization=level).predict
    setups["onnxruntime all, no spinning"] = OnnxDetector(onnx_path, threads=threads, spin=False).predict
    times: dict[str, list[float]] = {name: [] for name in setups}
    for _ in range(runs):  # alternate, so that a disturbance hits every setup alike
        for name, fn in setups.items():
            times[name] += timed(fn, image, 1, warmup=2 if not times[name] else 0)
    base = statistics.median(times["pytorch"])
    med = {name: statistics.median(t) for name, t in times.items()}
    return [{"threads": threads, "runtime": name, "s_per_img": med[name], "ratio": med[name] / base, "runs": t}
            for name, t in times.items()]  # fmt: skip


def cli() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="mask-rcnn_r50_fpn_gn-all_2x_coco")
    ap.add_argument("--weights", help="checkpoint (default: the reference weights of gnrcnn.weights.reference)")
    ap.add_argument("--threads", type=int, nargs="+", default=[2])
    ap.add_argument("--levels", nargs="+", default=["all", "extended", "basic", "disable"])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    keep_freed_memory()  # as the gnrcnn command does for its process
    tmp = Path(tempfile.mkdtemp(prefix="onnx_speed_"))
    weights = args.weights or refweights.write_checkpoint(args.config, tmp / "weights.pth")
    det = load_model(args.config, weights=weights)
    start = time.perf_counter()
    result = export_model(load_config(args.config), det.model)
    save_model(result.proto, str(tmp / "model.onnx"))
    print(f"export: {time.perf_counter() - start:.1f} s ({result.check})", flush=True)
    image = read_image(photo_path())
    rows = [r for t in args.threads for r in measure(det, tmp / "model.onnx", image, t, args.levels, args.runs)]
    print(f"{args.config}, {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"onnxruntime {__import__('onnxruntime').__version__}; s/img median of {args.runs}")  # fmt: skip
    print("| threads | runtime | s/img | vs PyTorch |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['threads']} | {r['runtime']} | {r['s_per_img']:.2f} | {r['ratio']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    cli()
