"""The one way images go through a model. ``make_runner`` picks, from the ``predict`` settings, how an
image is seen (whole or in tiles; once or test-time augmented); ``run_images`` streams any items through
it: decoding and resizing in ``workers`` threads ahead of the model, ``batch_size`` images per call,
and, with many images on an OpenVINO model, its throughput mode (as many batches in flight as it has
infer requests). ``gnrcnn predict`` (``images.py``), ``gnrcnn eval`` and the validation during training
(``evaluation/evaluate.py``) run it; ``Detector.predict`` and ``gnrcnn serve`` (which batches from its
own queue) call the same runner's ``prepare`` and ``run``. So every option means the same everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..config.schema import PredictConfig
from .prefetch import ordered_map
from .runner import DetectorLike, DirectRunner, Prepared, Runner, SingleView
from .tiling import TiledRunner
from .tta import TtaViews

T = TypeVar("T")


def make_runner(detector: DetectorLike, batch_size: int = 1, settings: PredictConfig | None = None) -> Runner:
    """The runner ``settings`` (default: the detector config's ``predict`` section, which ``--tile``,
    ``--overlap`` and ``--tta`` set) ask for; ``batch_size`` images per model call (tiles: ``tile_batch``)."""
    s = settings if settings is not None else detector.cfg.predict
    views = TtaViews(detector, s.tta_scales) if s.tta else SingleView(detector)
    return TiledRunner(detector, s, views=views) if s.tile > 0 else DirectRunner(detector, batch_size, views)


@dataclass
class LoopStats:
    errors: list[str] = field(default_factory=list)  # one line per item that could not be read (skipped)
    model_s: float = 0.0  # time in the model (the rest of the wall time it waited)


def run_images(runner: Runner, items: Sequence[T], load: Callable[[T], Prepared], workers: int = 2,
               stats: LoopStats | None = None) -> Iterator[tuple[Prepared, Any]]:  # fmt: skip
    """``(prepared, result)`` of each item in order; ``load`` (read and ``runner.prepare`` an item) runs in
    ``workers`` threads (0: in this one) at most a few items ahead. An item whose ``load`` raises a
    ``GnrcnnError`` (a bad file) is noted in ``stats.errors`` and skipped."""
    stats = stats if stats is not None else LoopStats()
    workers = max(0, workers)
    loaded = ordered_map(load, items, workers, 2 * max(workers, 1) + runner.batch_size)
    batches = _batches(loaded, runner.batch_size, stats)
    for batch, results in _run(runner, batches, stats, many=len(items) > runner.batch_size):
        yield from zip(batch, results)


def _batches(loaded: Iterable, size: int, stats: LoopStats) -> Iterator[list[Prepared]]:
    batch: list[Prepared] = []
    for _item, prepared, error in loaded:
        if error is not None:
            stats.errors.append(str(error))
            continue
        batch.append(prepared)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _run(runner: Runner, batches: Iterable[list[Prepared]], stats: LoopStats, many: bool
         ) -> Iterator[tuple[list[Prepared], list]]:  # fmt: skip
    """(batch, results) in order. With ``many`` batches to come, a detector with a throughput mode
    (OpenVINO: ``start_throughput``) gets as many in flight as it has infer requests, from that many threads."""
    start_throughput = getattr(runner.views.detector, "start_throughput", None)
    plain = isinstance(runner, DirectRunner) and isinstance(runner.views, SingleView)
    in_flight = start_throughput() if many and plain and start_throughput else 1
    ran = ordered_map(runner.run, batches, in_flight if in_flight > 1 else 0, in_flight)
    while True:
        start = time.perf_counter()
        item = next(ran, None)
        stats.model_s += time.perf_counter() - start  # in flight: the time spent waiting for results
        if item is None:
            return
        batch, results, error = item
        if error is not None:
            raise error
        yield batch, results
