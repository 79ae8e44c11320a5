"""``gnrcnn predict clip.mp4``: every (or every Nth) frame of a video through a detector, out as an
annotated video (``<stem>.mp4``, MPEG-4 part 2 'mp4v', which OpenCV writes without extra codecs) and
one JSON line per frame (``<stem>.jsonl``: frame index, timestamp, detections as in predictions.json).

Three stages overlap: a reader thread decodes each frame and resizes it for the model, the calling
thread runs the model, a writer thread draws the frame, encodes it and appends its JSON line. The
queues between them are bounded. A frame that cannot be decoded (a corrupt frame or a truncated
file) ends the run: the frames done so far are saved, and the summary carries one line saying where.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .. import runtime
from ..data.image_io import video_codec
from ..errors import GnrcnnError
from ..fileio import JsonLines, atomic_path
from ..progress import progress
from ..structures import Instances
from .outputs import InParts, records_and_picture
from .prefetch import Background, Sink
from .runner import Prepared, Runner

LENGTH_SLACK = 2  # frames a container's frame count may be off by (an estimate from its duration)


@dataclass
class VideoOptions:
    every: int = 1  # every Nth frame; the annotated video then plays at fps / N
    threads: bool = True  # reader and writer threads (False: all in the calling thread)
    depth: int = 8  # frames waiting in each queue at most
    score_thr: float = 0.3


@dataclass
class VideoSummary:
    video: Path
    lines: Path
    frames: int = 0  # frames predicted
    detections: int = 0
    read: int = 0  # frames decoded or skipped before the end
    expected: int = 0  # the container's frame count (0: unknown)
    wall_s: float = 0.0
    model_s: float = 0.0  # time in the model (the rest of the wall time it waited)
    error: str = ""  # one line when the video ended early


@dataclass
class _Frame:
    index: int
    time_s: float
    prepared: Prepared


def open_video(path: Path) -> cv2.VideoCapture:
    runtime.quiet_video_decoder()
    if not path.is_file():
        raise GnrcnnError(f"{path}: no such image, video or folder")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise GnrcnnError(f"{path}: not an image, and OpenCV cannot open it as a video (unknown format or damaged)")
    return cap


def _frames(cap: cv2.VideoCapture, runner: Runner, every: int, summary: VideoSummary) -> Iterator[_Frame]:
    """Decoded frames (every ``every``-th), prepared for the model; stops at the first that fails."""
    try:
        for index in itertools.count():
            if not cap.grab():
                break
            summary.read = index + 1
            if index % every:
                continue
            ok, bgr = cap.retrieve()
            if not ok or bgr is None:
                summary.read = index
                break
            rgb = np.ascontiguousarray(bgr[..., ::-1])
            yield _Frame(index, cap.get(cv2.CAP_PROP_POS_MSEC) / 1000, runner.prepare(rgb, str(index)))
    finally:
        cap.release()


class _Encoder:
    """Behind the model: the frame drawn, encoded into the video, its detections as a JSON line."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], lines: JsonLines, score_thr: float
                 ) -> None:  # fmt: skip
        codec = video_codec(path)
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, size)
        if not self.writer.isOpened():
            raise GnrcnnError(f"{path}: OpenCV cannot write this video (no '{codec}' encoder in this build)")
        self.lines, self.score_thr = lines, score_thr
        self.detections = 0

    def __call__(self, item: tuple[_Frame, Instances | InParts]) -> None:
        frame, result = item
        # frames keep their size (the writer's), however small
        records, picture = records_and_picture(result, frame.prepared.image, self.score_thr, min_side=0)
        self.lines.append({"frame": frame.index, "time_s": round(frame.time_s, 4), "detections": records})
        self.detections += len(records)
        assert picture is not None
        self.writer.write(np.ascontiguousarray(picture.permute(1, 2, 0).numpy()[..., ::-1]))

    def release(self) -> None:
        self.writer.release()


def _batches(source: Iterator[_Frame], size: int) -> Iterator[list[_Frame]]:
    while batch := list(itertools.islice(source, size)):
        yield batch


def predict_video(runner: Runner, path: str | Path, out_dir: str | Path,
                  opts: VideoOptions, name: str = "") -> VideoSummary:  # fmt: skip
    """``<name>.mp4`` (annotated) and ``<name>.jsonl`` of the video ``path`` in ``out_dir`` (``name``:
    the video's stem unless given);"""
    if opts.every < 1:
        raise GnrcnnError(f"--every {opts.every}: expected a frame step of at least 1")
    path, out = Path(path), Path(out_dir)
    name = name or path.stem
    summary = VideoSummary(out / f"{name}.mp4", out / f"{name}.jsonl")
    if summary.video.resolve() == path.resolve():
        raise GnrcnnError(f"{path}: the annotated video would replace it; give another --out folder")
    cap = open_video(path)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    summary.expected = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
    frames = _frames(cap, runner, opts.every, summary)
    total = math.ceil(summary.expected / opts.every) if summary.expected else None
    began = time.perf_counter()
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_path(summary.video, "video"))
        lines = stack.enter_context(JsonLines(summary.lines, fresh=True))
        encoder = _Encoder(tmp, fps / opts.every, size, lines, opts.score_thr)
        stack.callback(encoder.release)
        stack.callback(frames.close)  # after the reader thread has stopped (callbacks run last in, first out)
        source = stack.enter_context(Background(frames, opts.depth)) if opts.threads else frames
        sink = stack.enter_context(Sink(encoder, opts.depth, threaded=opts.threads))
        bar = stack.enter_context(progress(total=total, desc=path.name, unit="frame", file=sys.stderr))
        for batch in _batches(iter(source), runner.batch_size):
            start = time.perf_counter()
            results = runner.run([f.prepared for f in batch])
            summary.model_s += time.perf_counter() - start
            for frame, result in zip(batch, results):
                sink.put((frame, result))
            summary.frames += len(batch)
            bar.update(len(batch))
    summary.wall_s, summary.detections = time.perf_counter() - began, encoder.detections
    if summary.expected and summary.read < summary.expected - LENGTH_SLACK:
        summary.error = (f"{path}: frame {summary.read} of {summary.expected} cannot be decoded (a truncated file or "
                         f"a corrupt frame): stopped there; the {summary.frames} frames done are saved in "
                         f"{summary.video} and {summary.lines}")  # fmt: skip
    return summary
