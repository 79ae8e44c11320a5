"""``gnrcnn predict``: images, folders and videos -> COCO results and pictures, annotated videos.

A dispatcher: ``images.py`` streams the images (a folder of thousands as well as one photo) through
the one loop (``loop.py``), ``video.py`` runs each video through the same runner, which cuts every
image or frame into tiles at native resolution when tiling is on (``predict.tile`` in the config, or
``--tile``) and augments it at test time with ``predict.tta`` (``--tta``). docs/inference.md.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config.schema import PredictConfig
from ..data.image_io import IMAGE_SUFFIXES, list_images
from ..errors import GnrcnnError
from .detector import Detector
from .images import StreamOptions, predict_stream, unique_names
from .loop import make_runner
from .video import VideoOptions, predict_video


@dataclass
class PredictOptions:
    score_thr: float = 0.3  # drawn from this score on (the JSON keeps every detection)
    batch_size: int = 1  # images or frames per model call (1: exactly the reference's results)
    workers: int = 2  # decoding threads ahead of the model; 0: no prefetching, no writer thread
    resume: bool = False  # skip the images predictions.jsonl already holds
    every: int = 1  # every Nth video frame
    pictures: bool = True  # one PNG per image
    settings: PredictConfig | None = None  # tiles, test-time augmentation; None: the detector config's ``predict``


def split_inputs(inputs: list[str]) -> tuple[list[Path], list[Path]]:
    """(images, videos): folders give their images; a file that is not an image is taken for a video."""
    images: list[Path] = []
    videos: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir() or p.suffix.lower() in IMAGE_SUFFIXES or not p.exists():
            images += list_images([item])  # a missing file is one clear error there
        else:
            videos.append(p)
    return images, videos


def predict_files(
    detector: Detector, inputs: list[str], out_dir: str | Path, score_thr: float = 0.5, draw_pictures: bool = True
) -> tuple[list[dict], list[str]]:
    """Every image of ``inputs`` (files and folders): the COCO records and the error lines of bad images
    (skipped; the others' results are kept). Writes ``predictions.json``, ``predictions.jsonl`` and PNGs."""
    images, _ = split_inputs(inputs)
    opts = StreamOptions(pictures=draw_pictures, score_thr=score_thr)
    summary = predict_stream(make_runner(detector), images, out_dir, opts)
    return json.loads((Path(out_dir) / "predictions.json").read_text()), summary.errors


@torch.inference_mode()
def run(detector: Detector, inputs: tuple[list[Path], list[Path]], out_dir: str, opts: PredictOptions) -> int:
    """``gnrcnn predict`` of ``inputs`` as ``split_inputs`` gave them (before the model was built, so that a
    missing file is told in a moment, not after seconds of loading)."""
    images, videos = inputs
    runner = make_runner(detector, opts.batch_size, opts.settings)
    errors: list[str] = []
    if images:
        stream = StreamOptions(opts.workers, opts.resume, opts.pictures, opts.score_thr)
        s = predict_stream(runner, images, out_dir, stream)
        done = f", {s.skipped} done before (--resume)" if s.skipped else ""
        print(f"{s.images} image(s){done}, {s.detections} detections ({s.drawn} with score >= {opts.score_thr} "
              f"drawn) -> {out_dir}/")  # fmt: skip
        errors += s.errors
    names = unique_names(videos, "")
    for path in videos:
        try:
            v_opts = VideoOptions(opts.every, opts.workers > 0, score_thr=opts.score_thr)
            v = predict_video(runner, path, out_dir, v_opts, names[str(path)])
        except GnrcnnError as e:
            errors.append(str(e))
            continue
        rate = v.frames / v.wall_s if v.wall_s else 0.0
        print(f"{path}: {v.frames} frame(s), {v.detections} detections, {rate:.2f} frames/s -> {v.video}, {v.lines}")
        if v.error:
            errors.append(v.error)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0
