"""What kind of model file a path names, told by its suffix, and the metadata key prefix both exported formats
share (``gnrcnn.config``, ``gnrcnn.config_name``, ...). The detectors, ``gnrcnn.load_model`` and the exporters use
these; nothing else spells the suffixes."""

from __future__ import annotations

from pathlib import Path

META_PREFIX = "gnrcnn."  # ONNX metadata_props keys; OpenVINO keeps them in rt_info["gnrcnn"] without it


def is_onnx_path(path: object) -> bool:
    return isinstance(path, (str, Path)) and str(path).lower().endswith(".onnx")


def is_openvino_path(path: object) -> bool:
    return isinstance(path, (str, Path)) and str(path).lower().endswith(".xml")
