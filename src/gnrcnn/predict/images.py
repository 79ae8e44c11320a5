"""``gnrcnn predict``'s images streamed through the one loop (``loop.run_images``: decoding and resizing
ahead in worker threads, batches, throughput mode); results are appended to ``predictions.jsonl`` as
they come, pictures are drawn and saved in a thread behind the model, and ``predictions.json`` is
written at the end.

Memory holds only the images in flight (bounded queues), never the results: the final JSON is
streamed from the JSON lines. A crash loses nothing finished; ``resume=True`` skips the images the
JSON lines already hold (a torn last line is ignored and cut off).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..data.image_io import read_image
from ..errors import GnrcnnError
from ..fileio import JsonLines, read_json_lines, write_json_list_atomic
from ..progress import progress
from ..structures import Instances
from ..visualize.draw import save_png
from .loop import LoopStats, run_images
from .outputs import InParts, records_and_picture
from .prefetch import Sink
from .runner import Prepared, Runner

JSONL = "predictions.jsonl"


@dataclass
class StreamOptions:
    workers: int = 2  # decode + resize threads; 0: all in the calling thread (no prefetching)
    resume: bool = False
    pictures: bool = True
    score_thr: float = 0.3


@dataclass
class Summary:
    images: int = 0  # predicted in this run
    skipped: int = 0  # already done (resume)
    detections: int = 0
    drawn: int = 0
    errors: list[str] = field(default_factory=list)
    model_s: float = 0.0  # time in the model (the rest of the wall time it waited)


def unique_names(paths: list[Path], suffix: str) -> dict[str, str]:
    """An output file name per input (its stem, then ``_1``, ``_2``, ... where stems repeat), the same
    on every run, so resume keeps them."""
    used: set[str] = set()
    out = {}
    for p in paths:
        name, i = p.stem, 1
        while name in used:
            name, i = f"{p.stem}_{i}", i + 1
        used.add(name)
        out[str(p)] = f"{name}{suffix}"
    return out


def done_images(jsonl: Path) -> set[str]:
    return {rec["file_name"] for rec in read_json_lines(jsonl)}


class _Writer:
    """Behind the model: COCO records to the JSON lines, the picture to a PNG."""

    def __init__(self, lines: JsonLines, out: Path, names: dict[str, str], opts: StreamOptions,
                 summary: Summary) -> None:  # fmt: skip
        self.lines, self.out, self.names, self.opts, self.summary = lines, out, names, opts, summary

    def __call__(self, item: tuple[Prepared, Instances | InParts]) -> None:
        prepared, result = item
        records, picture = records_and_picture(result, prepared.image, self.opts.score_thr, prepared.name)
        self.lines.append({"file_name": prepared.name, "height": prepared.shape[0], "width": prepared.shape[1],
                           "detections": records})  # fmt: skip
        self.summary.images += 1
        self.summary.detections += len(records)
        self.summary.drawn += sum(r["score"] >= self.opts.score_thr for r in records)
        if picture is not None:
            save_png(picture, self.out / self.names[prepared.name])


def _prepare_fn(runner: Runner, keep_image: bool) -> Callable[[Path], Prepared]:
    def prepare(path: Path) -> Prepared:
        return runner.prepare(read_image(path), str(path), keep_image)

    return prepare


def predict_stream(runner: Runner, paths: list[Path], out_dir: str | Path,
                   opts: StreamOptions) -> Summary:  # fmt: skip
    """Predict every image of ``paths``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = Summary()
    jsonl = out / JSONL
    done = done_images(jsonl) if opts.resume else set()
    if not opts.resume and jsonl.exists() and jsonl.stat().st_size:
        print(f"note: {jsonl} from an earlier run is started afresh (--resume would skip its images)", file=sys.stderr)
    todo = [p for p in paths if str(p) not in done]
    summary.skipped = len(paths) - len(todo)
    names = unique_names(paths, ".png")
    if opts.pictures and any((out / names[str(p)]).resolve() == p.resolve() for p in paths):
        raise GnrcnnError(f"{out}: the pictures would replace input images there; give another --out folder")
    depth = 2 * max(opts.workers, 1) + runner.batch_size
    stats = LoopStats(summary.errors)
    with JsonLines(jsonl, fresh=not opts.resume) as lines:
        writer = _Writer(lines, out, names, opts, summary)
        bar = progress(total=len(todo), desc="predict", unit="img", disable=len(todo) < 2, file=sys.stderr)
        with bar, Sink(writer, depth=depth, threaded=opts.workers > 0) as sink:
            for prepared, result in run_images(runner, todo, _prepare_fn(runner, opts.pictures), opts.workers, stats):
                sink.put((prepared, result))
                bar.update(1)
    summary.model_s = stats.model_s
    write_predictions_json(jsonl, out / "predictions.json", {str(p) for p in paths})
    return summary


def write_predictions_json(jsonl: Path, path: Path, names: set[str]) -> None:
    """``predictions.json`` (a COCO results list) of the images ``names``, streamed from the JSON lines."""
    lines = (line for line in read_json_lines(jsonl) if line["file_name"] in names)
    write_json_list_atomic((rec for line in lines for rec in line["detections"]), path)
