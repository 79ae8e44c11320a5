"""The one COCOeval wrapper (``gnrcnn eval``, validation during training, ``gnrcnn analyze``): the ground
truth, the run, per-class AP. Which COCOeval computes the metrics: faster-coco-eval's C++ port when it is installed (the
``fasteval`` extra), pycocotools' own otherwise.

faster-coco-eval reimplements COCOeval's per-image matching and accumulation in C++ with the same
rules; on 5,000 images x 100 detections it gives the same AP to within 1e-4 and is many times
faster (``benchmarks/eval_speed.py``, docs/eval_speed.md). ``evaluator="pycocotools"`` (or the
environment variable ``GNRCNN_EVALUATOR=pycocotools``) forces the reference implementation.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GnrcnnError, read_input_file

EVALUATORS = ("faster-coco-eval", "pycocotools")


def available() -> list[str]:
    """The evaluators importable here, preferred first."""
    return [e for e in EVALUATORS if e == "pycocotools" or importlib.util.find_spec("faster_coco_eval") is not None]


def choose(evaluator: str | None = None) -> str:
    """``evaluator`` if given, else ``GNRCNN_EVALUATOR``, else the first available; "auto" means the latter."""
    want = evaluator or preferred_evaluator() or "auto"
    if want == "auto":
        return available()[0]
    if want not in EVALUATORS:
        raise GnrcnnError(f"unknown evaluator '{want}': choose one of auto, {', '.join(EVALUATORS)}")
    if want not in available():
        raise GnrcnnError(f"evaluator '{want}' is not installed (pip install 'gnrcnn[fasteval]')")
    return want


def load_gt(ann_file: str | Path, evaluator: str = "pycocotools") -> Any:
    """The ground truth as the evaluator's own COCO object (quietly); a file that is not COCO is a one-line error."""
    read_input_file(ann_file, "annotation")
    try:
        if evaluator == "faster-coco-eval":
            import faster_coco_eval

            return faster_coco_eval.COCO(str(ann_file), print_function=_quiet)
        from pycocotools.coco import COCO

        with contextlib.redirect_stdout(io.StringIO()):
            return COCO(str(ann_file))
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise GnrcnnError(f"{ann_file}: not a COCO annotation file ({type(e).__name__}: {e})") from None


def run_cocoeval(
    gt: Any, results: list[dict[str, Any]], iou_type: str, evaluator: str = "pycocotools", *, summary: bool = True
) -> Any:
    """Load ``results`` against ``gt`` (the same evaluator's COCO) and run evaluate/accumulate/summarize.

    Returns the COCOeval object: ``.stats`` (the summary numbers) and ``.eval["precision"]``
    (T, R, K, A, M) are the same in both implementations. ``summary=False`` (``gnrcnn analyze``) evaluates
    area "all" only and prints no summary; its per-image matches (``evalImgs``) need pycocotools, whose
    port in C++ keeps them inside.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes([dict(r) for r in results])
        if evaluator == "faster-coco-eval":
            from faster_coco_eval import COCOeval_faster

            ev = COCOeval_faster(gt, dt, iou_type, print_function=_quiet)
        else:
            from pycocotools.cocoeval import COCOeval

            ev = COCOeval(gt, dt, iou_type)
        if not summary:
            ev.params.areaRng, ev.params.areaRngLbl = [[0, 1e10]], ["all"]
        ev.evaluate()
        ev.accumulate()
        if summary:
            ev.summarize()
    return ev


def per_class_ap(ev: Any, gt: Any) -> dict[str, float]:
    """AP@[.5:.95] of each category (area all, the most detections), as COCOeval's summary computes it."""
    precision = ev.eval["precision"]  # (T, R, K, A, M)
    out = {}
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        p = p[p > -1]
        out[gt.cats[cat_id]["name"]] = float(np.mean(p)) if p.size else float("nan")
    return out


def _quiet(*args: Any, **kwargs: Any) -> None:
    """faster-coco-eval prints its progress through this; pycocotools' goes to a muted stdout."""


def preferred_evaluator() -> str | None:
    """``GNRCNN_EVALUATOR`` (``auto``, ``faster-coco-eval`` or ``pycocotools``): which COCOeval
    this module uses when the caller names none; None when unset."""
    return os.environ.get("GNRCNN_EVALUATOR", "").strip().lower() or None
