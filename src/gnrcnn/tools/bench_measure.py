"""``gnrcnn bench --runtimes``, part 2: each runtime timed, its memory and its accuracy measured.

Time: the runtimes predict the images in turn, round after round (``harness.alternate``), from decoded
images to full-size masks; seconds per image as the median and min-max over the rounds, and the ratio
to PyTorch fp32 per round. Throughput: the folder through ``predict.loop`` as ``gnrcnn predict`` runs it
(decoding threads ahead of the model; OpenVINO with several requests in flight). Memory: the peak of a
fresh process that loads the runtime and predicts each image twice (``harness.in_fresh_process``).
Accuracy: box and mask AP on a validation set when one is given, else agreement with PyTorch fp32's
detections (``evaluation/matching.py``: the share matched one-to-one, the mean mask IoU of the pairs).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..data.image_io import read_image
from ..evaluation.matching import compare_instances, total
from ..predict.loop import make_runner, run_images
from . import harness
from .bench_runtimes import Plan, load, reason

BASE = "pytorch fp32"


@dataclass
class Row:
    runtime: str
    reason: str | None = None  # why it has no figures (skipped, failed)
    s_per_img: float | None = None  # median over the rounds
    s_min: float | None = None
    s_max: float | None = None
    ratio: float | None = None  # to PyTorch fp32, median of the per-round ratios
    ratio_min: float | None = None
    ratio_max: float | None = None
    folder_img_s: float | None = None
    peak_gb: float | None = None
    box_ap: float | None = None
    mask_ap: float | None = None
    matched: float | None = None  # share of PyTorch fp32's detections matched one-to-one
    mask_iou: float | None = None  # mean mask IoU of the matched pairs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def peak_job(plan: Plan, images: list[str]) -> None:
    """What a fresh process does for the memory figure: load, predict each image twice."""
    detector = load(plan)
    for path in images:
        image = read_image(path)
        for _ in range(2):
            detector.predict(image, color="rgb")


def _predict_all(detector: Any, images: list[Any]) -> list[Any]:
    return [detector.predict(image, color="rgb")[0] for image in images]


def _loaded(plans: list[Plan], images: list[Any], rows: dict[str, Row]) -> tuple[dict[str, Any], dict[str, list]]:
    """Each runtime loaded and run once on every image (its first warm-up); a failure is its row's reason."""
    detectors, outputs = {}, {}
    for plan in plans:
        try:
            detector = load(plan)
            outputs[plan.name] = _predict_all(detector, images)
            detectors[plan.name] = detector
        except Exception as e:  # one runtime's failure is one row's reason
            rows[plan.name].reason = f"failed: {reason(e)}"
    return detectors, outputs


def folder_rate(detector: Any, paths: list[Path]) -> float:
    """Images per second through ``gnrcnn predict``'s loop over ``paths``."""
    runner = make_runner(detector)
    start = time.perf_counter()
    for _ in run_images(runner, paths, lambda p: runner.prepare(read_image(p), str(p), False)):
        pass
    return len(paths) / (time.perf_counter() - start)


def _accuracy(
    rows: dict[str, Row], detectors: dict[str, Any], outputs: dict[str, list], gt: Any, data_root: Any
) -> None:
    from ..evaluation.evaluate import evaluate

    for name, detector in detectors.items():
        row = rows[name]
        try:
            if gt is not None:
                metrics = evaluate(detector, gt, data_root)
                row.box_ap, row.mask_ap = metrics["bbox"]["AP"], metrics["segm"]["AP"]
            elif BASE in outputs:
                agree = total([compare_instances(a, b) for a, b in zip(outputs[BASE], outputs[name])])
                row.matched, row.mask_iou = agree.matched_fraction, agree.mean_mask_iou
        except Exception as e:
            row.reason = f"accuracy failed: {reason(e)}"


def measure(plans: list[Plan], paths: list[Path], rounds: int, *, gt: Any = None, data_root: Any = None,
            memory: bool = True, folder: bool = True, log: bool = True) -> list[Row]:  # fmt: skip
    """A row for each of ``plans``, in order: time, throughput, peak memory and accuracy, or a reason."""
    rows = {p.name: Row(p.name) for p in plans}
    images = [read_image(p) for p in paths]
    detectors, outputs = _loaded(plans, images, rows)
    jobs = {name: (lambda d=d: _predict_all(d, images)) for name, d in detectors.items()}
    times = harness.alternate(jobs, rounds, warmup=1, device=plans[0].device if plans else None, log=log)
    base = times.get(BASE)
    for name, ts in times.items():
        per_image = [t / len(images) for t in ts]
        s = harness.spread(per_image, [b / len(images) for b in base] if base and name != BASE else None)
        row = rows[name]
        row.s_per_img, row.s_min, row.s_max = s.median, s.min, s.max
        row.ratio, row.ratio_min, row.ratio_max = (
            (1.0, 1.0, 1.0) if name == BASE else (s.ratio, s.ratio_min, s.ratio_max)
        )
        if folder:
            row.folder_img_s = folder_rate(detectors[name], paths)
    _accuracy(rows, detectors, outputs, gt, data_root)
    detectors.clear()  # the memory children start with the models of this process freed
    if memory:
        for name in times:
            try:
                rows[name].peak_gb = harness.in_fresh_process(
                    peak_job, _plan(plans, name), [str(p) for p in paths]
                ).peak_rss_gb
            except harness.ChildError as e:
                rows[name].reason = f"memory run failed: {e}"
    return list(rows.values())


def _plan(plans: list[Plan], name: str) -> Plan:
    return next(p for p in plans if p.name == name)
