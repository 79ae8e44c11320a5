"""Folders and videos through ``gnrcnn predict``: throughput with prefetching on and off, and peak
memory over 100 and 1000 images (flat: the results are streamed to JSON lines, never held).

    python benchmarks/inference_stream.py [--weights results/demo/train/model_final.pth] [--counts 100 1000]
        [--speed-images 100] [--frames 100] [--work /tmp/gnrcnn-stream-bench]

The model is the demo's (``shapes-demo_r18_fpn_gn-all``, 224 px), trained weights if given (the
detection count changes the drawing work, not the network's). Images: the demo's 256 px shapes;
video: 320 x 240 moving shapes. Every measurement runs in a fresh process (peak RSS is the process's
VmHWM); PNG pictures and the annotated video are written as ``gnrcnn predict`` writes them.
"Prefetch off" is ``--workers 0``: decoding, the model, drawing and writing in turn in one thread.
"Model busy" is the share of the wall time spent inside the model's calls: the rest it waited.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

CONFIG = "shapes-demo_r18_fpn_gn-all"


def child(args: argparse.Namespace) -> None:
    import torch

    from gnrcnn import load_model, runtime
    from gnrcnn.predict.images import StreamOptions, predict_stream
    from gnrcnn.predict.loop import make_runner
    from gnrcnn.predict.video import VideoOptions, predict_video

    runtime.keep_freed_memory()  # as the gnrcnn command does
    torch.set_num_threads(args.threads)
    det = load_model(CONFIG if not args.weights else None, args.weights or None)
    runner = make_runner(det)
    start = time.perf_counter()
    with torch.inference_mode():
        if args.video:
            v = predict_video(runner, args.video, args.out, VideoOptions(threads=args.workers > 0))
            n, model_s = v.frames, v.model_s
        else:
            paths = sorted(Path(args.images).iterdir())[: args.count]
            s = predict_stream(runner, paths, args.out, StreamOptions(workers=args.workers))
            n, model_s = s.images, s.model_s
    wall = time.perf_counter() - start
    peak = runtime.peak_rss_gb()
    print(json.dumps({"items": n, "wall_s": round(wall, 2), "per_s": round(n / wall, 2),
                      "model_busy": round(model_s / wall, 3), "peak_rss_gb": round(peak, 3)}))  # fmt: skip


def run_child(argv: list[str]) -> dict:
    res = subprocess.run([sys.executable, __file__, "--child", *argv], capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def make_data(work: Path, count: int, frames: int) -> tuple[Path, Path]:
    from gnrcnn.data.scenes import moving_shapes, write_video
    from gnrcnn.data.shapes import make_split

    images, video = work / "images", work / "clip.mp4"
    if len(list(images.glob("*.png"))) < count:
        make_split(work, "images", count, 256, seed=7)
    if not video.exists():
        write_video(moving_shapes(frames, 240, 320, count=5), video, fps=25)
    return images, video


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default="results/demo/train/model_final.pth")
    ap.add_argument("--counts", type=int, nargs="+", default=[100, 1000], help="images for the memory rows")
    ap.add_argument("--speed-images", type=int, default=100)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--work", default="/tmp/gnrcnn-stream-bench")
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--images")
    ap.add_argument("--video")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    weights = args.weights if Path(args.weights).exists() else ""
    if not weights:
        print(f"note: {args.weights} not found: a randomly initialised demo model (few detections to draw)")
    work = Path(args.work)
    images, video = make_data(work, max([*args.counts, args.speed_images]), args.frames)
    common = ["--weights", weights, "--threads", str(args.threads)]
    print("| input | prefetch | items | items/s | model busy | peak RSS GB |\n|---|---|---|---|---|---|")
    for what, target in (("images", ["--images", str(images), "--count", str(args.speed_images)]),
                         ("video", ["--video", str(video)])):  # fmt: skip
        for workers in (0, 2):
            r = run_child([*common, *target, "--workers", str(workers), "--out", str(work / f"out-{what}-{workers}")])
            label = "on (2 threads)" if workers else "off"
            print(f"| {what} | {label} | {r['items']} | {r['per_s']} | {r['model_busy']:.0%} | {r['peak_rss_gb']} |",
                  flush=True)  # fmt: skip
    print("\n| images streamed | wall s | images/s | peak RSS GB |\n|---|---|---|---|")
    for count in args.counts:
        r = run_child([*common, "--images", str(images), "--count", str(count), "--out", str(work / f"mem-{count}")])
        print(f"| {count} | {r['wall_s']} | {r['per_s']} | {r['peak_rss_gb']} |", flush=True)


if __name__ == "__main__":
    main()
