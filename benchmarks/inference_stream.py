"""Folders and videos through ``gnrcnn predict``: throughput with prefetching on and off, and peak
memory over 100 and 1000 images (flat: the results are streamed to JSON lines, never held).

    python benchmarks/inference_stream.py [--weights results/demo/train/model_final.pth] [--counts 100 1000]
        [--speed-images 100] [--frames 100] [--work /tmp/gnrcnn-stream-bench] [--dry-run]

The model is the demo's (``shapes-demo_r18_fpn_gn-all``, 224 px), trained weights if given (the
detection count changes the drawing work, not the network's). Images: the demo's 256 px shapes;
video: 320 x 240 moving shapes. Every measurement runs in a fresh process (``harness.in_fresh_process``:
peak RSS is the process's VmHWM); PNG pictures and the annotated video are written as ``gnrcnn predict`` writes them.
"Prefetch off" is ``--workers 0``: decoding, the model, drawing and writing in turn in one thread.
"Model busy" is the share of the wall time spent inside the model's calls: the rest it waited.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from gnrcnn.tools.harness import DRY_OVERRIDES, add_dry_run, in_fresh_process, scratch_folder

CONFIG = "shapes-demo_r18_fpn_gn-all"


def child(weights: str, images: str | None = None, video: str | None = None, count: int = 0, workers: int = 2,
          out: str = "", overrides: tuple[str, ...] = ()) -> dict:  # fmt: skip
    """One ``gnrcnn predict`` of a folder's first ``count`` images or of a video (in a fresh process)."""
    import torch

    from gnrcnn import load_model
    from gnrcnn.predict.images import StreamOptions, predict_stream
    from gnrcnn.predict.loop import make_runner
    from gnrcnn.predict.video import VideoOptions, predict_video

    det = load_model(None if weights else CONFIG, weights or "none", overrides=list(overrides))
    runner = make_runner(det)
    start = time.perf_counter()
    with torch.inference_mode():
        if video:
            v = predict_video(runner, video, out, VideoOptions(threads=workers > 0))
            n, model_s = v.frames, v.model_s
        else:
            paths = sorted(Path(images).iterdir())[:count]
            s = predict_stream(runner, paths, out, StreamOptions(workers=workers))
            n, model_s = s.images, s.model_s
    wall = time.perf_counter() - start
    return {"items": n, "wall_s": round(wall, 2), "per_s": round(n / wall, 2), "model_busy": round(model_s / wall, 3)}


def run_child(threads: int, **kwargs: object) -> dict:
    res = in_fresh_process(child, threads=threads, **kwargs)
    return {**res.value, "peak_rss_gb": round(res.peak_rss_gb, 3)}


def make_data(work: Path, count: int, frames: int) -> tuple[Path, Path]:
    from gnrcnn.data.scenes import moving_shapes, write_video
    from gnrcnn.data.shapes import make_split

    images, video = work / "images", work / "clip.mp4"
    if len(list(images.glob("*.png"))) < count:
        make_split(work, "images", count, 256, seed=7)
    if not video.exists():
        write_video(moving_shapes(frames, 240, 320, count=5), video, fps=25)
    return images, video


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default="results/demo/train/model_final.pth")
    ap.add_argument("--counts", type=int, nargs="+", default=[100, 1000], help="images for the memory rows")
    ap.add_argument("--speed-images", type=int, default=100)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--work", default="/tmp/gnrcnn-stream-bench")
    add_dry_run(ap)
    args = ap.parse_args(argv)
    over: tuple[str, ...] = ()
    if args.dry_run:
        args.counts, args.speed_images, args.frames, args.work = [2], 2, 2, scratch_folder()
        args.weights, over = "", tuple(DRY_OVERRIDES)
    weights = args.weights if Path(args.weights).exists() else ""
    if not weights:
        print(f"note: {args.weights} not found: a randomly initialised demo model (few detections to draw)")
    work = Path(args.work)
    images, video = make_data(work, max([*args.counts, args.speed_images]), args.frames)
    common = {"weights": weights, "threads": args.threads, "overrides": over}
    print("| input | prefetch | items | items/s | model busy | peak RSS GB |\n|---|---|---|---|---|---|")
    for what, target in (("images", {"images": str(images), "count": args.speed_images}),
                         ("video", {"video": str(video)})):  # fmt: skip
        for workers in (2,) if args.dry_run else (0, 2):
            r = run_child(**common, **target, workers=workers, out=str(work / f"out-{what}-{workers}"))
            label = "on (2 threads)" if workers else "off"
            print(f"| {what} | {label} | {r['items']} | {r['per_s']} | {r['model_busy']:.0%} | {r['peak_rss_gb']} |",
                  flush=True)  # fmt: skip
    print("\n| images streamed | wall s | images/s | peak RSS GB |\n|---|---|---|---|")
    for count in args.counts:
        r = run_child(**common, images=str(images), count=count, out=str(work / f"mem-{count}"))
        print(f"| {count} | {r['wall_s']} | {r['per_s']} | {r['peak_rss_gb']} |", flush=True)


if __name__ == "__main__":
    main()
