"""Which COCOeval computes the metrics: faster-coco-eval's C++ port when it is installed (the
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
from pathlib import Path
from typing import Any

from .. import runtime
from ..errors import GnrcnnError

EVALUATORS = ("faster-coco-eval", "pycocotools")


def available() -> list[str]:
    """The evaluators importable here, preferred first."""
    return [e for e in EVALUATORS if e == "pycocotools" or importlib.util.find_spec("faster_coco_eval") is not None]


def choose(evaluator: str | None = None) -> str:
    """``evaluator`` if given, else ``GNRCNN_EVALUATOR``, else the first available; "auto" means the latter."""
    want = evaluator or runtime.preferred_evaluator() or "auto"
    if want == "auto":
        return available()[0]
    if want not in EVALUATORS:
        raise GnrcnnError(f"unknown evaluator '{want}': choose one of auto, {', '.join(EVALUATORS)}")
    if want not in available():
        raise GnrcnnError(f"evaluator '{want}' is not installed (pip install 'gnrcnn[fasteval]')")
    return want


def load_gt(ann_file: str | Path, evaluator: str) -> Any:
    """The ground truth as the evaluator's own COCO object (quietly)."""
    if evaluator == "faster-coco-eval":
        import faster_coco_eval

        return faster_coco_eval.COCO(str(ann_file), print_function=_quiet)
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(ann_file))


def run_cocoeval(gt: Any, results: list[dict[str, Any]], iou_type: str, evaluator: str) -> Any:
    """Load ``results`` against ``gt`` (the same evaluator's COCO) and run evaluate/accumulate/summarize.

    Returns the COCOeval object: ``.stats`` (the summary numbers) and ``.eval["precision"]``
    (T, R, K, A, M) are the same in both implementations.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes([dict(r) for r in results])
        if evaluator == "faster-coco-eval":
            from faster_coco_eval import COCOeval_faster

            ev = COCOeval_faster(gt, dt, iou_type, print_function=_quiet)
        else:
            from pycocotools.cocoeval import COCOeval

            ev = COCOeval(gt, dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _quiet(*args: Any, **kwargs: Any) -> None:
    """faster-coco-eval prints its progress through this; pycocotools' goes to a muted stdout."""
