"""INT8 by NNCF post-training quantization of the OpenVINO model, calibrated on the user's images.

Quantized: the inputs and weights of every convolution and matrix product (backbone, FPN, RPN head,
box and mask heads). Everything else stays fp32: GroupNorm, the normalisation of the input, box
decoding, RoIAlign, both NMS and the mask probabilities. NNCF is told so by ignoring every other
operator type of the graph, so a FakeQuantize sits only in front of a Convolution or MatMul and
their outputs come back in fp32 before anything else reads them.

The calibration images go through the same resize as at inference (``RawPreprocessor``), one image
per batch, as ``gnrcnn predict`` runs them.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..config.schema import Config
from ..data.coco import CocoDataset
from ..data.image_io import list_images, read_image
from ..data.preprocess import RawPreprocessor
from ..errors import GnrcnnError
from ..runtime import openvino_core, signal_stack_kept

QUANTIZED_TYPES = {"Convolution", "GroupConvolution", "ConvolutionBackpropData", "MatMul"}


def calibration_images(source: str, count: int, data_root: str | None = None) -> list[Path]:
    """At most ``count`` image paths, evenly spread over a folder's images or a COCO JSON's (its file names
    relative to ``data_root``, as ``train --data-root`` reads them; without it, guessed near the JSON; a
    folder's images ignore it)."""
    if count < 1:
        raise GnrcnnError(f"--calib-count {count}: give at least 1 calibration image")
    p = Path(source)
    if p.suffix.lower() == ".json" and p.is_file():
        paths = _coco_images(p, data_root)
    elif p.is_dir():
        try:
            paths = list_images([str(p)])
        except OSError as e:
            raise GnrcnnError(f"--calib {p}: cannot read the folder ({e.strerror or e})") from None
    elif p.exists():
        raise GnrcnnError(f"--calib {p}: give a folder of images or a COCO JSON file, not another kind of file")
    else:
        raise GnrcnnError(f"--calib {p}: no such folder or COCO JSON file")
    if not paths:
        raise GnrcnnError(f"--calib {p}: no images to calibrate on")
    step = max(len(paths) / count, 1.0)
    return [paths[int(i * step)] for i in range(min(count, len(paths)))]


def _coco_images(path: Path, data_root: str | None) -> list[Path]:
    """The image files of a COCO JSON (read and resolved as every dataset is: ``data/coco.py``), under
    ``data_root``, else found beside it or one folder up (``annotations/x.json``)."""
    dataset = CocoDataset(path, path.parent, train=False, check_files=False)
    if not len(dataset):
        raise GnrcnnError(f"--calib {path}: the JSON lists no images")
    first = dataset.records[0].file_name
    if data_root is not None:
        root = Path(data_root)
        if not (root / first).is_file():
            raise GnrcnnError(f"--calib {path}: image {first} is not found under --data-root {root}")
    else:
        roots = [path.parent, path.parent.parent, path.parent.parent / "images"]
        root = next((r for r in roots if (r / first).is_file()), None)
        if root is None:
            raise GnrcnnError(f"--calib {path}: image {first} is not found under {' or '.join(map(str, roots))}: "
                              "give --data-root, the folder its file names are relative to")  # fmt: skip
    images = CocoDataset(path, root, train=False)
    missing = [p for p in images.problems if p.kind == "missing-file"]
    if missing:
        raise GnrcnnError(f"--calib {path}: {missing[0]}")
    return [rec.path for rec in images.records]


def calibration_inputs(cfg: Config, paths: list[Path]) -> list[dict[str, np.ndarray]]:
    """The graph's inputs for each readable image; unreadable ones are skipped with a warning."""
    pre = RawPreprocessor(cfg.input)
    items, errors = [], []
    for path in paths:
        try:
            batch, sizes, _ = pre([read_image(path)])
        except GnrcnnError as e:
            errors.append(str(e))
            continue
        items.append({"images": batch.numpy(), "image_sizes": sizes.numpy().astype(np.int64)})
    if not items:
        raise GnrcnnError(f"none of the {len(paths)} calibration image(s) could be read (first: {errors[0]})")
    for e in errors:
        print(f"warning: calibration image skipped: {e}", file=sys.stderr)
    return items


def quantize(model: Any, items: list[dict[str, np.ndarray]]) -> Any:
    """The INT8 ``ov.Model`` of ``model`` (fp32, from ``export/openvino.to_openvino``), calibrated on
    ``items`` (``calibration_inputs``)."""
    import nncf

    nncf.set_log_level(logging.WARNING)
    others = sorted({op.get_type_name() for op in model.get_ops()} - QUANTIZED_TYPES)
    openvino_core()  # our plugin first, so NNCF's Cores stack their signal stacks on one that never goes
    with signal_stack_kept():
        return nncf.quantize(
            model, nncf.Dataset(items), subset_size=len(items),
            ignored_scope=nncf.IgnoredScope(types=others, validate=False),
        )  # fmt: skip
