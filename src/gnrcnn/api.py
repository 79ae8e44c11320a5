"""The Python entry points: models by config name, config file or checkpoint, and the pictures of their results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import runtime
from .config.schema import Config
from .data.preprocess import ImageInput, to_rgb_array
from .engine import results
from .engine.build import build_model, build_with_weights, published_weights, resolve_config
from .engine.onnx_detector import OnnxDetector, is_onnx_path, load_onnx
from .engine.predictor import Detector
from .export.openvino import is_openvino_path
from .predict.openvino_detector import OpenVinoDetector, load_openvino
from .structures import Instances
from .weights import hub, load_weights_file

__all__ = ["build_model", "draw", "load_model"]


def load_model(
    config: str | Path | Config | None = None,
    weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    overrides: list[str] | None = None,
    amp: str | None = None,
    compile: bool = False,
    tf32: bool = False,
    malloc: str | None = None,
) -> Detector | OnnxDetector | OpenVinoDetector:
    """``load_model("mask-rcnn_r50_fpn_gn-all_2x_coco")`` -> a ready ``Detector`` with the published weights.

    ``weights``: a file (a gnrcnn checkpoint, a published MMDetection or detectron2 file, ...: told
    by content; loading never runs code from the file), an ``http(s)://`` URL or a zoo name
    (downloaded once, hash-checked and cached: ``weights/hub.py``), or ``"none"`` for a randomly
    initialised model. Omitted, a zoo config means its published checkpoint; any other config
    needs an explicit choice. ``tf32`` switches TF32 for the whole process (CUDA only). An exported
    ``.onnx`` file (as ``config`` or ``weights``) gives an ``OnnxDetector`` with the same interface,
    running in onnxruntime; an OpenVINO ``model.xml`` an ``OpenVinoDetector`` (``amp="bf16"``: bf16
    where the CPU has it).

    Like the ``gnrcnn`` command, it first keeps freed tensor memory in the process
    (``runtime.keep_freed_memory``: up to 1.6x faster on the CPU); ``malloc="system"`` or
    ``GNRCNN_MALLOC=system`` keeps glibc's defaults instead (less peak memory).
    """
    runtime.apply_malloc(malloc)
    if is_onnx_path(config) or is_onnx_path(weights):
        return load_onnx(config, weights, device, overrides, amp, compile)
    if is_openvino_path(config) or is_openvino_path(weights):
        return load_openvino(config, weights, device, overrides, amp, compile)
    if weights is None:
        weights = published_weights(config, overrides)
    path = hub.resolve(weights)
    loaded = load_weights_file(path) if path is not None else None
    cfg = resolve_config(config if isinstance(config, (Config, type(None))) else str(config), loaded, overrides)
    if torch.device(device).type == "cuda":
        runtime.set_tf32(tf32)
    model = build_with_weights(cfg, loaded, str(path))
    return Detector(cfg, model, device=device, amp=amp, compile=compile, owns_model=True)


def draw(image: ImageInput, instances: Instances, score_thr: float | None = None, color: str = "rgb") -> np.ndarray:
    """The picture ``gnrcnn predict`` saves: masks, boxes and 'name score' labels over ``image``.

    ``image``: a path, an H x W x 3 uint8 array (``color`` = its channel order) or a uint8 tensor, as
    ``Detector.predict`` takes; ``instances``: its detections. Returns H x W x 3 uint8 RGB.
    ``score_thr`` (default: ``predict``'s) hides weaker detections from the picture.
    """
    rgb, _ = to_rgb_array(image, color)
    names = list(instances.class_names)
    if len(instances) and int(instances.labels.max()) >= len(names):  # no names: labels drawn as numbers
        names += [str(i) for i in range(len(names), int(instances.labels.max()) + 1)]
    options = {} if score_thr is None else {"score_thr": score_thr}
    return results.draw(rgb, instances.to("cpu"), names, **options).permute(1, 2, 0).numpy()
