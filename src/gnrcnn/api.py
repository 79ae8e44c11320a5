"""The Python entry points: models by config name, config file or checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from . import runtime
from .config.schema import Config
from .engine.build import build_model, build_with_weights, resolve_config
from .engine.onnx_detector import OnnxDetector, is_onnx_path, load_onnx
from .engine.predictor import Detector
from .weights import load_weights_file

__all__ = ["build_model", "load_model"]


def load_model(
    config: str | Path | Config | None = None,
    weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    overrides: list[str] | None = None,
    amp: str | None = None,
    compile: bool = False,
    tf32: bool = False,
) -> Detector | OnnxDetector:
    """``load_model("mask-rcnn_r50_fpn_gn-all_2x_coco", weights="...pth")`` -> a ready ``Detector``.

    ``weights`` may be a gnrcnn checkpoint, a published MMDetection checkpoint of the seed zoo or
    any other supported format (told by content); loading never runs code from the file. ``tf32``
    switches TF32 for the whole process (CUDA only). An exported ``.onnx`` file (as ``config`` or
    ``weights``) gives an ``OnnxDetector`` with the same interface, running in onnxruntime.
    """
    if is_onnx_path(config) or is_onnx_path(weights):
        return load_onnx(config, weights, device, overrides, amp, compile)
    loaded = load_weights_file(weights) if weights is not None else None
    cfg = resolve_config(config if isinstance(config, (Config, type(None))) else str(config), loaded, overrides)
    if torch.device(device).type == "cuda":
        runtime.set_tf32(tf32)
    model = build_with_weights(cfg, loaded, str(weights))
    return Detector(cfg, model, device=device, amp=amp, compile=compile, owns_model=True)
