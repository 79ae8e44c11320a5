"""CPU runtimes side by side, one process, same weights and photo: PyTorch fp32 and bf16, onnxruntime
fp32, OpenVINO fp32 and bf16, OpenVINO INT8.

    python benchmarks/cpu_runtimes.py [--config mask-rcnn_r50_fpn_gn-all_2x_coco] [--weights CKPT]
                                      [--threads 2] [--rounds 5] [--calib DIR] [--calib-count 3]
                                      [--skip NAME ...] [--folder 16] [--memory] [--json OUT]

Every runtime gets the decoded bundled photo (300 x 451, resized to 800 x 1203), batch 1, and returns
full-size masks (the same Python resize before the network, the same rescaling and pasting after it).
The model is exported once to ONNX, OpenVINO fp32 and OpenVINO INT8 (NNCF, calibrated on --calib:
by default the test suite's reference photos; export times are printed). Then, after two warm-ups
each (OpenVINO compiles its model for this input size at the second: docs/deploy.md, static
shapes), the runtimes run in turn for --rounds rounds, one image each per round, so that a
disturbance on a shared machine hits them alike. Reported: each runtime's median s/img with its min-max, and its
ratio to PyTorch fp32 as the median and min-max of the per-round ratios (a target counts as met only
when the whole spread meets it). `--folder N`: then each runtime's throughput over a folder of N copies
of the photo through `gnrcnn predict`'s own folder path (decoding threads ahead of the model;
OpenVINO in throughput mode with several infer requests in flight), images/s. `--memory`: each
runtime's peak resident memory in a fresh process that loads the model and predicts the photo 3
times (VmHWM). Weights: the test suite's reference weights unless --weights
(random but lively: about 100 detections per image, so the mask head works as a real model's does;
INT8 speed does not depend on what the weights detect, its accuracy does: docs/deploy.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from gnrcnn import keep_freed_memory, load_config, load_model  # noqa: E402
from gnrcnn.data.image_io import bundled_photo as photo_path  # noqa: E402
from gnrcnn.data.image_io import list_images, read_image  # noqa: E402
from gnrcnn.export.int8 import calibration_inputs, quantize  # noqa: E402
from gnrcnn.export.onnx import export_model, save_model  # noqa: E402
from gnrcnn.export.openvino import save_openvino, to_openvino  # noqa: E402
from gnrcnn.predict.images import StreamOptions, predict_stream  # noqa: E402
from gnrcnn.predict.loop import make_runner  # noqa: E402
from gnrcnn.predict.onnx_detector import OnnxDetector  # noqa: E402
from gnrcnn.predict.openvino_detector import OpenVinoDetector  # noqa: E402
from gnrcnn.runtime import peak_rss_gb  # noqa: E402

import refweights  # noqa: E402


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        model = "unknown CPU"
    import openvino as ov

    return f"{model} (OpenVINO: {ov.Core().get_property('CPU', 'FULL_DEVICE_NAME')})"


def exports(cfg_name: str, weights: Path, tmp: Path, calib: list[Path], skip: set[str]) -> dict[str, Path]:
    """One ONNX export, converted to OpenVINO fp32 and quantized to INT8 (what ``gnrcnn export`` does)."""
    det = load_model(cfg_name, weights=weights)
    cfg, out = load_config(cfg_name), {"onnx": tmp / "model.onnx", "ov": tmp / "model.xml", "int8": tmp / "int8.xml"}
    start = time.perf_counter()
    proto = export_model(cfg, det.model).proto
    save_model(proto, str(out["onnx"]))
    print(f"ONNX export: {time.perf_counter() - start:.0f} s", flush=True)
    save_openvino(to_openvino(proto), out["ov"])
    if "openvino int8" not in skip:
        start = time.perf_counter()
        save_openvino(quantize(to_openvino(proto), calibration_inputs(cfg, calib)), out["int8"])
        print(f"OpenVINO INT8, {len(calib)} calibration images: {time.perf_counter() - start:.0f} s", flush=True)
    return out


def folder_rates(runs: dict, tmp: Path, count: int) -> dict[str, float]:
    """Images per second of each runtime over a folder of ``count`` copies of the photo, by ``gnrcnn predict``'s
    folder path (no pictures drawn)."""
    folder = tmp / "folder"
    folder.mkdir(exist_ok=True)
    for i in range(count):
        (folder / f"{i:03d}.png").write_bytes(Path(photo_path()).read_bytes())
    images = sorted(folder.glob("*.png"))
    rates = {}
    for name, predict in runs.items():
        detector = predict.__self__
        start = time.perf_counter()
        predict_stream(
            make_runner(detector), images, tmp / "out" / name.replace(" ", "_"), StreamOptions(pictures=False)
        )
        rates[name] = count / (time.perf_counter() - start)
        print(f"folder of {count}: {name} {rates[name]:.2f} img/s", flush=True)
    return rates


def child_peak(args: argparse.Namespace, name: str, tmp: Path, weights: Path) -> float:
    """Peak RSS (GB) of a fresh process that loads ``name``'s model and predicts the photo 3 times."""
    cmd = [sys.executable, __file__, "--config", args.config, "--threads", str(args.threads), "--child", name,
           str(tmp), str(weights)]  # fmt: skip
    return float(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])


def run_child(args: argparse.Namespace) -> None:
    name, tmp, weights = args.child
    files = {"onnx": Path(tmp) / "model.onnx", "ov": Path(tmp) / "model.xml", "int8": Path(tmp) / "int8.xml"}
    predict = setups(argparse.Namespace(**{**vars(args), "skip": []}), Path(weights), files, only=name)[name]
    image = read_image(photo_path())
    for _ in range(3):
        predict(image)
    print(peak_rss_gb())


def setups(args: argparse.Namespace, weights: Path, files: dict[str, Path], only: str | None = None) -> dict:
    t = args.threads
    made = {
        "pytorch fp32": lambda: load_model(args.config, weights=weights),
        "pytorch bf16": lambda: load_model(args.config, weights=weights, amp="bf16"),
        "onnxruntime fp32": lambda: OnnxDetector(files["onnx"], threads=t),
        "openvino fp32": lambda: OpenVinoDetector(files["ov"], threads=t),
        "openvino bf16": lambda: OpenVinoDetector(files["ov"], threads=t, amp="bf16"),
        "openvino int8": lambda: OpenVinoDetector(files["int8"], threads=t),
    }
    return {name: make().predict for name, make in made.items() if name not in args.skip and only in (None, name)}


def summarize(times: dict[str, list[float]]) -> list[dict]:
    base = times["pytorch fp32"]
    rows = []
    for name, ts in times.items():
        ratios = [a / b for a, b in zip(ts, base)]
        rows.append({"runtime": name, "s_per_img": statistics.median(ts), "min": min(ts), "max": max(ts),
                     "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
                     "runs": ts})  # fmt: skip
    return rows


def cli() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="mask-rcnn_r50_fpn_gn-all_2x_coco")
    ap.add_argument("--weights", help="checkpoint (default: the reference weights of gnrcnn.weights.reference)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calib", default=str(ROOT / "tests" / "assets" / "reference" / "more"))
    ap.add_argument("--calib-count", type=int, default=3)
    ap.add_argument("--skip", nargs="*", default=[], help="runtimes to leave out, e.g. 'pytorch bf16'")
    ap.add_argument("--folder", type=int, default=0, help="also each runtime's throughput over this many images")
    ap.add_argument("--memory", action="store_true", help="also each runtime's peak memory, in a fresh process")
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--child", nargs=3, metavar=("RUNTIME", "DIR", "WEIGHTS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    keep_freed_memory()  # as the gnrcnn command and load_model do
    torch.set_num_threads(args.threads)
    if args.child:
        run_child(args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="cpu_runtimes_"))
    weights = Path(args.weights) if args.weights else refweights.write_checkpoint(args.config, tmp / "weights.pth")
    calib = list_images([args.calib])[: args.calib_count]
    files = exports(args.config, weights, tmp, calib, set(args.skip))
    runs = setups(args, weights, files)
    image = read_image(photo_path())
    times: dict[str, list[float]] = {name: [] for name in runs}
    for fn in runs.values():
        for _ in range(2):  # warm-up: kernels built, memory pools grown, OpenVINO's model for this size compiled
            fn(image)
    for r in range(args.rounds):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn(image)
            times[name].append(time.perf_counter() - start)
        print(f"round {r + 1}: " + ", ".join(f"{n} {t[-1]:.2f}" for n, t in times.items()), flush=True)
    rows = summarize(times)
    rates = folder_rates(runs, tmp, args.folder) if args.folder else {}
    peaks = {name: child_peak(args, name, tmp, weights) for name in runs} if args.memory else {}
    for r in rows:
        r.update({"folder_img_s": rates.get(r["runtime"]), "peak_gb": peaks.get(r["runtime"])})
    print(f"\n{args.config}, {args.threads} threads, batch 1, 800 x 1203; {cpu_name()}; torch {torch.__version__}; "
          f"median of {args.rounds} alternating rounds (min-max)")  # fmt: skip
    print(
        f"| runtime | s/img | vs PyTorch fp32 | folder of {args.folder}, img/s | peak memory |\n|---|---|---|---|---|"
    )
    for r in rows:
        rate = f"{r['folder_img_s']:.2f}" if r["folder_img_s"] else "-"
        peak = f"{r['peak_gb']:.2f} GB" if r["peak_gb"] else "-"
        print(f"| {r['runtime']} | {r['s_per_img']:.2f} ({r['min']:.2f}-{r['max']:.2f}) | "
              f"{r['ratio']:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) | {rate} | {peak} |")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    cli()
