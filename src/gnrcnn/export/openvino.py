"""``gnrcnn export --format openvino``: the ONNX graph of ``export/onnx.py`` as OpenVINO IR
(model.xml + model.bin), with the same metadata in the model's ``rt_info`` (``gnrcnn/<key>``).

OpenVINO reads the ONNX file unchanged; two things are added. The weights are saved in fp32
(``save_model`` would halve them to fp16 by default, and fp32 inference is meant to be exact), and
each ``NonMaxSuppression`` gets its boxes through a ``Reshape`` to (0, -1, 4): its boxes reach it
through a reshape whose target is computed in the graph, and the CPU plugin, once the model holds
``FakeQuantize`` (INT8), loses the static 4 of that shape and refuses to compile
("unsupported 'boxes' input 3rd dimension size: 18446744073709551615", OpenVINO 2026.4). A reshape
to a constant target states it again; it changes no value.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config.schema import Config
from ..errors import GnrcnnError
from ..modeling import MaskRCNN
from .int8 import calibration_inputs, quantize
from .onnx import META_PREFIX, export_model, random_batch
from .parity import match

CHANNELS_LAST_COPY = "gnrcnn/channels_last_copy_"  # friendly-name prefix of the copies made for RoIAlign
RT_SECTION = "gnrcnn"  # rt_info path ["gnrcnn", key]: the ONNX metadata key without its "gnrcnn." prefix


def require_openvino() -> None:
    """A missing ``openvino`` / ``nncf`` is one line that says what to install."""
    import importlib.util

    missing = [m for m in ("openvino", "nncf") if importlib.util.find_spec(m) is None]
    if missing:
        raise GnrcnnError(f"OpenVINO models need {' and '.join(missing)}: pip install 'gnrcnn[openvino]'")


def is_openvino_path(path: object) -> bool:
    return isinstance(path, (str, Path)) and str(path).lower().endswith(".xml")


def to_openvino(proto: Any) -> Any:
    """An ``onnx.ModelProto`` from ``export.onnx.export_model`` -> an ``ov.Model`` with its metadata."""
    import openvino as ov

    with tempfile.TemporaryDirectory(prefix="gnrcnn_ov_") as tmp:  # convert_model reads ONNX from a file
        path = Path(tmp) / "model.onnx"
        path.write_bytes(proto.SerializeToString())
        model = ov.convert_model(str(path))
    for prop in proto.metadata_props:
        model.set_rt_info(prop.value, [RT_SECTION, prop.key.removeprefix(META_PREFIX)])
    state_nms_box_shapes_in_place(model)
    return model


def state_nms_box_shapes_in_place(model: Any) -> None:
    """Feed every ``NonMaxSuppression`` its boxes through ``Reshape(boxes, [0, -1, 4])`` (see above)."""
    import openvino.opset13 as ops

    target = ops.constant(np.array([0, -1, 4], np.int64))
    for op in model.get_ops():
        if op.get_type_name() == "NonMaxSuppression":
            boxes = ops.reshape(op.input_value(0), target, special_zero=True)
            op.input(0).replace_source_output(boxes.output(0))
    model.validate_nodes_and_infer_types()


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
    import openvino as ov

    path = Path(path)
    if not path.is_file():
        raise GnrcnnError(f"{path}: OpenVINO model file not found")
    require_openvino()
    if not path.with_suffix(".bin").is_file():
        raise GnrcnnError(f"{path}: its weights file {path.with_suffix('.bin').name} is missing beside it")
    try:
        return ov.Core().read_model(str(path))
    except RuntimeError as e:
        raise GnrcnnError(f"{path}: not a loadable OpenVINO model ({str(e).splitlines()[0][:200]})") from None


def compile_model(model: Any, config: dict[str, Any]) -> Any:
    """``model`` compiled for the CPU with ``config`` (OpenVINO properties)."""
    import openvino as ov

    try:
        return ov.Core().compile_model(model, "CPU", config)
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


def save_openvino(model: Any, path: str | Path) -> int:
    """Write model.xml and model.bin (fp32 weights) so that neither is ever seen half-written; their size."""
    import openvino as ov

    xml = Path(path)
    tmp = xml.with_name(f".{xml.stem}.partial.xml")
    try:
        xml.parent.mkdir(parents=True, exist_ok=True)
        ov.save_model(model, str(tmp), compress_to_fp16=False)
        os.replace(tmp.with_suffix(".bin"), xml.with_suffix(".bin"))
        os.replace(tmp, xml)
    except (OSError, RuntimeError) as e:
        for leftover in (tmp, tmp.with_suffix(".bin")):
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise GnrcnnError(f"{xml}: cannot write the OpenVINO model ({str(e).splitlines()[0][:200]})") from None
    return xml.stat().st_size + xml.with_suffix(".bin").stat().st_size


def check_against_onnx(path: str | Path, onnx_bytes: bytes, divisor: int) -> str:
    """Run the written model in OpenVINO (fp32) and the ONNX graph in onnxruntime on a two-image batch
    of sizes unlike the traced ones: how many detections agree (the ONNX graph was checked against
    PyTorch the same way). For an INT8 model this says how far quantization moved the detections."""
    import onnxruntime as ort

    batch, sizes = random_batch([(2 * divisor + 5, 7 * divisor - 3), (divisor - 5, 2 * divisor)], divisor, seed=1)
    feeds = {"images": batch.numpy(), "image_sizes": sizes.numpy()}
    want = [torch.from_numpy(t) for t in ort.InferenceSession(onnx_bytes).run(None, feeds)]
    request = compile_model(read_model(path), {"INFERENCE_PRECISION_HINT": "f32"}).create_infer_request()
    got = [torch.from_numpy(np.array(t)) for t in request.infer(feeds).values()]
    return f"{len(match(want[:4], got[:4]))} of {max(len(want[0]), len(got[0]))} detections agree with onnxruntime"


@dataclass
class OpenVinoExport:
    size: int  # bytes of model.xml + model.bin
    seconds: float
    onnx_check: str  # the ONNX graph against PyTorch
    check: str  # the written model against the ONNX graph
    calibration_images: int  # 0: fp32


def export_openvino(cfg: Config, model: MaskRCNN, out: str | Path, calib: list[Path] | None = None,
                    opset: int | None = None) -> OpenVinoExport:  # fmt: skip
    """``model`` (lent, unchanged) -> ``out`` (model.xml + model.bin): the ONNX graph, checked against
    PyTorch, converted; with ``calib`` images quantized to INT8 (``export/int8.py``)."""
    require_openvino()
    start = time.perf_counter()
    items = calibration_inputs(cfg, calib) if calib else None  # unreadable images: said before the export
    result = export_model(cfg, model, **({"opset": opset} if opset else {}))
    ov_model = to_openvino(result.proto)
    if items:
        ov_model = quantize(ov_model, items)
    size = save_openvino(ov_model, out)
    check = check_against_onnx(out, result.proto.SerializeToString(), cfg.input.size_divisor)
    if items:  # on random pixels most scores sit near a threshold: INT8 moves them, real images far less
        check += " on random pixels (for INT8's accuracy: gnrcnn eval on your validation set)"
    return OpenVinoExport(size, time.perf_counter() - start, result.check, check, len(calib or []))
