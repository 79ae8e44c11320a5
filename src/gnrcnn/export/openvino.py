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

from .. import runtime
from ..config.schema import Config
from ..errors import GnrcnnError
from ..evaluation.matching import match
from ..modeling import MaskRCNN
from ..predict.model_files import META_PREFIX
from ..predict.openvino_runtime import RT_SECTION, compile_model, read_model, require_openvino
from .int8 import calibration_inputs, quantize
from .onnx import ExportResult, export_model, random_batch


def to_openvino(proto: Any) -> Any:
    """An ``onnx.ModelProto`` from ``export.onnx.export_model`` -> an ``ov.Model`` with its metadata."""
    import openvino as ov

    with tempfile.TemporaryDirectory(prefix="gnrcnn_ov_") as tmp:  # the ONNX front end reads from a file
        path = Path(tmp) / "model.onnx"
        path.write_bytes(proto.SerializeToString())
        model = _convert(ov, str(path))
    for prop in proto.metadata_props:
        model.set_rt_info(prop.value, [RT_SECTION, prop.key.removeprefix(META_PREFIX)])
    state_nms_box_shapes_in_place(model)
    return model


def _convert(ov: Any, onnx_path: str) -> Any:
    """What ``ov.convert_model(onnx_path)`` does for an ONNX file, less its preprocessing step, which with
    nothing asked of it is a no-op that took 3-6 s of a 4-7 s conversion here: the ONNX front end, then
    the same offline transformations in the same order (openvino.tools.ovc's moc_emit_ir). The same
    graph and weights come out (model.bin byte for byte; model.xml differs in the conversion record)."""
    try:
        from openvino import _offline_transformations as moc
    except ImportError:  # another OpenVINO layout: its public converter
        return ov.convert_model(onnx_path)
    model = runtime.openvino_core().read_model(onnx_path)
    moc.apply_moc_transformations(model, cf=False, smart_reshape=True)
    moc.compress_quantize_weights_transformation(model)
    moc.apply_moc_legacy_transformations(model, [])
    moc.apply_fused_names_cleanup(model)
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
                    opset: int | None = None, exported: ExportResult | None = None,
                    converted: Any = None) -> OpenVinoExport:  # fmt: skip
    """``model`` (lent, unchanged) -> ``out`` (model.xml + model.bin): the ONNX graph, checked against
    PyTorch, converted; with ``calib`` images quantized to INT8 (``export/int8.py``). ``exported``: that
    ONNX export of ``model`` instead of a new one, and ``converted``: its ``to_openvino`` model (lent,
    unchanged) instead of a new conversion (``gnrcnn bench --runtimes`` writes fp32 and INT8 from one)."""
    require_openvino()
    start = time.perf_counter()
    items = calibration_inputs(cfg, calib) if calib else None  # unreadable images: said before the export
    result = exported or export_model(cfg, model, **({"opset": opset} if opset else {}))
    ov_model = converted if converted is not None else to_openvino(result.proto)
    if items:  # NNCF may rename a lent model's nodes: it gets a copy
        ov_model = quantize(ov_model if converted is None else ov_model.clone(), items)
    size = save_openvino(ov_model, out)
    check = check_against_onnx(out, result.proto.SerializeToString(), cfg.input.size_divisor)
    if items:  # on random pixels most scores sit near a threshold: INT8 moves them, real images far less
        check += " on random pixels (for INT8's accuracy: gnrcnn eval on your validation set)"
    return OpenVinoExport(size, time.perf_counter() - start, result.check, check, len(calib or []))
