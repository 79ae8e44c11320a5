"""OpenVINO at run time: reading and compiling an IR (``model.xml`` + ``model.bin``), its gnrcnn metadata, and
the RoIAlign layout rewrite applied at load. ``predict/openvino_detector.py`` runs models with these;
``export/openvino.py`` writes them (and checks them with the same reader)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GnrcnnError
from ..runtime import openvino_core
from .model_files import META_PREFIX

CHANNELS_LAST_COPY = "gnrcnn/channels_last_copy_"  # friendly-name prefix of the copies made for RoIAlign
RT_SECTION = "gnrcnn"  # rt_info path ["gnrcnn", key]: the ONNX metadata key without its META_PREFIX


def require_openvino() -> None:
    """A missing ``openvino`` / ``nncf`` is one line that says what to install."""
    import importlib.util

    missing = [m for m in ("openvino", "nncf") if importlib.util.find_spec(m) is None]
    if missing:
        raise GnrcnnError(f"OpenVINO models need {' and '.join(missing)}: pip install 'gnrcnn[openvino]'")


def roi_align_reads_channels_last_in_place(model: Any) -> int:
    """Feed every ``ROIAlign`` its feature map through a 1x1 depthwise convolution with weights 1 (an
    exact copy in fp32); how many were inserted, one per feature map.

    Why: OpenVINO's CPU RoIAlign runs in the layout its input arrives in, and the FPN's outputs arrive
    channels-first, since GroupNorm's reshape needs that layout. Its channels-first kernel gathers each
    sample point's 256 channels from 256 planes; the channels-last one reads them as one contiguous
    row. A convolution picks its own layout (channels-last here), so the copy makes RoIAlign's input
    channels-last: on a 2-core AMD EPYC, R-50's RoIAlign time went from 468 to 31 ms per image, for
    about 15 ms of copying (docs/benchmarks.md). Applied when a model is loaded, so files exported
    before it gain too; a model that already has the copies is left as it is."""
    import openvino.opset13 as ops

    copies: dict[tuple[str, int], Any] = {}
    for op in model.get_ops():
        if op.get_type_name() != "ROIAlign":
            continue
        source = op.input_value(0)
        if source.get_node().get_friendly_name().startswith(CHANNELS_LAST_COPY):
            continue
        key = (source.get_node().get_name(), source.get_index())
        if key not in copies:
            channels = source.get_partial_shape()[1]
            if channels.is_dynamic:  # the weights need the channel count
                continue
            ones = ops.constant(np.ones((channels.get_length(), 1, 1, 1, 1), np.float32))
            copy = ops.group_convolution(source, ones, [1, 1], [0, 0], [0, 0], [1, 1])
            copy.set_friendly_name(f"{CHANNELS_LAST_COPY}{len(copies)}")
            copies[key] = copy.output(0)
        op.input(0).replace_source_output(copies[key])
    model.validate_nodes_and_infer_types()
    return len(copies)


def read_model(path: str | Path) -> Any:
    """``model.xml`` (with its ``model.bin``) as an ``ov.Model``; a missing or broken file is one line."""
    path = Path(path)
    if not path.is_file():
        raise GnrcnnError(f"{path}: OpenVINO model file not found")
    require_openvino()
    if not path.with_suffix(".bin").is_file():
        raise GnrcnnError(f"{path}: its weights file {path.with_suffix('.bin').name} is missing beside it")
    try:
        return openvino_core().read_model(str(path))
    except RuntimeError as e:
        raise GnrcnnError(f"{path}: not a loadable OpenVINO model ({str(e).splitlines()[0][:200]})") from None


def compile_model(model: Any, config: dict[str, Any]) -> Any:
    """``model`` compiled for the CPU with ``config`` (OpenVINO properties)."""
    try:
        return openvino_core().compile_model(model, "CPU", config)
    except RuntimeError as e:
        lines = [line for line in str(e).splitlines() if line.strip()]
        raise GnrcnnError(f"OpenVINO cannot compile this model: {lines[-1][:300] if lines else e}") from None


def metadata_of(model: Any) -> dict[str, str]:
    """The model's gnrcnn metadata as the ONNX file has it: ``{"gnrcnn.config": ..., ...}``."""
    if not model.has_rt_info([RT_SECTION]):
        return {}
    return {
        META_PREFIX + k: str(model.get_rt_info([RT_SECTION, k]).astype(str)) for k in model.get_rt_info()[RT_SECTION]
    }
