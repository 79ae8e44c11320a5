"""``gnrcnn export``: a model -> one self-describing ONNX file of standard operators only.

The graph (``export/model.py``) takes resized uint8 RGB images and returns detections in
resized-image pixels with M x M mask probabilities; the resize before it and the rescaling and mask
pasting after it stay in Python (``data/preprocess.py``, ``modeling/postprocess.py``), where they are
reference-exact. ``metadata_props`` carry what a runtime needs for those two steps (docs/deploy.md).

Exporter: torch's TorchScript-based ``torch.onnx.export(dynamo=False)``. The torch.export-based one
(``dynamo=True``) gives the same operators and detections but took ~10x longer on the same model
(tiny: 168 s against 17 s on the shared 2-core machine), which no test suite or user waits for at
R-101. The tracer's known failure, a size from the example input frozen into the graph, is ruled
out after every export: the file is run at another size and batch and compared with PyTorch.
"""

from __future__ import annotations

import io
import json
import time
import warnings
from dataclasses import dataclass
from typing import Any

import torch

from .. import runtime
from ..config.schema import Config
from ..errors import GnrcnnError
from ..evaluation.matching import match
from ..fileio import write_bytes_atomic
from ..modeling import MaskRCNN
from ..predict.model_files import META_PREFIX
from ..version import __version__
from .model import INPUT_NAMES, OUTPUT_NAMES, ExportableMaskRCNN

OPSET = 17  # RoiAlign's half_pixel mode (torchvision's aligned=True) needs 16


def _nms_symbolic(g: Any, boxes: Any, scores: Any, iou_threshold: Any, score_threshold: Any) -> Any:
    """``gnrcnn::batched_nms`` as ONNX NonMaxSuppression, with no cap on the boxes kept."""
    from torch.onnx import symbolic_helper

    iou = symbolic_helper._maybe_get_const(iou_threshold, "f")
    thr = symbolic_helper._maybe_get_const(score_threshold, "f")
    return g.op("NonMaxSuppression", boxes, scores, g.op("Constant", value_t=torch.tensor([2**62])),
                g.op("Constant", value_t=torch.tensor([iou], dtype=torch.float32)),
                g.op("Constant", value_t=torch.tensor([thr], dtype=torch.float32)))  # fmt: skip


def metadata(cfg: Config) -> dict[str, str]:
    """What a runtime needs around the graph, as ``metadata_props`` (keys prefixed ``gnrcnn.``)."""
    i, roi = cfg.input, cfg.model.roi
    fields: dict[str, Any] = {
        "version": __version__,
        "config_name": cfg.name,
        "config": cfg.to_dict(),
        "class_names": list(cfg.data.class_names),
        "category_ids": list(cfg.data.category_ids),
        "input": {"dtype": "uint8", "channel_order": "RGB", "layout": "NCHW", "pad_to_multiple_of": i.size_divisor,
                  "normalized_in_graph": True},
        "normalization": {"mean": i.mean, "std": i.std, "network_channel_order": "RGB" if i.to_rgb else "BGR",
                          "formula": "(x - mean) / std per channel, in the network's channel order, zero outside "
                                     "each image's own height and width"},
        "resize": {"short": i.short, "long": i.long, "size_divisor": i.size_divisor, "style": i.resize,
                   "rule": "mmdet: scale = min(long / max(h, w), short / min(h, w)), new side = int(side * scale "
                           "+ 0.5), OpenCV bilinear; detectron2: ResizeShortestEdge, Pillow bilinear"},
        "mask_threshold": roi.mask_thr,
        "mask_size": roi.mask_size,
        "box_arithmetic": cfg.model.box_arithmetic,
        "outputs": "boxes (D, 4) xyxy in resized-image pixels; scores (D,); labels (D,) 0..K-1; image_ids (D,); "
                   "mask_probs (D, M, M) spanning each box; sorted by image, then decreasing score",
    }  # fmt: skip
    return {META_PREFIX + k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}


def random_batch(sizes: list[tuple[int, int]], divisor: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random uint8 images of the given (h, w), zero-padded together to a multiple of ``divisor``."""
    g = torch.Generator().manual_seed(seed)
    hp, wp = (-(-max(s[i] for s in sizes) // divisor) * divisor for i in (0, 1))
    batch = torch.zeros((len(sizes), 3, hp, wp), dtype=torch.uint8)
    for b, (h, w) in enumerate(sizes):
        batch[b, :, :h, :w] = torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g)
    return batch, torch.tensor(sizes, dtype=torch.int64)


@dataclass
class ExportResult:
    proto: Any  # onnx.ModelProto
    seconds: float
    op_types: list[str]
    check: str  # what the check at another size and batch found


def export_model(cfg: Config, model: MaskRCNN, opset: int = OPSET) -> ExportResult:
    """The ONNX model of ``model`` (lent, unchanged) with its metadata, checked by ``onnx.checker``
    and by running it at another input size and batch than the one traced."""
    import onnx

    start = time.perf_counter()
    torch.onnx.register_custom_op_symbolic("gnrcnn::batched_nms", _nms_symbolic, opset)
    wrapper = ExportableMaskRCNN(model, cfg.input).eval()
    d = cfg.input.size_divisor
    # Two padded images, the second with a small content size: every traced step runs on few boxes
    # (the trace's ops do not depend on how many), and no dimension is 1.
    images, _ = random_batch([(2 * d, 3 * d), (2 * d - 3, 3 * d - 7)], d)
    example = (images, torch.tensor([[2 * d, 3 * d], [d // 2 + 1, d // 2 + 3]]))
    buf = io.BytesIO()
    with runtime.eval_mode(model), torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about every Python bool it meets (shape asserts, constant tensors); the
        # check below is what shows that no size was frozen into the graph.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper, example, buf, dynamo=False, opset_version=opset, input_names=INPUT_NAMES,
            output_names=OUTPUT_NAMES, do_constant_folding=True,
            dynamic_axes={"images": {0: "batch", 2: "height", 3: "width"}, "image_sizes": {0: "batch"},
                          **{name: {0: "detections"} for name in OUTPUT_NAMES}},
        )  # fmt: skip
    proto = onnx.load_from_string(buf.getvalue())
    proto.producer_name, proto.producer_version = "gnrcnn", __version__
    proto.doc_string = f"gnrcnn {cfg.name}: Mask R-CNN with Group Normalization (metadata_props, docs/deploy.md)"
    onnx.helper.set_model_props(proto, metadata(cfg))
    onnx.checker.check_model(proto)
    foreign = sorted({n.domain for n in proto.graph.node if n.domain not in ("", "ai.onnx")})
    if foreign or proto.functions:
        raise GnrcnnError(f"export produced operators outside the standard ONNX domain: {foreign}")
    check = check_against_pytorch(proto.SerializeToString(), wrapper, model, d)
    return ExportResult(proto, time.perf_counter() - start, sorted({n.op_type for n in proto.graph.node}), check)


def check_against_pytorch(data: bytes, wrapper: ExportableMaskRCNN, model: MaskRCNN, divisor: int) -> str:
    """Run the graph in onnxruntime on a batch of two random images of sizes unlike the traced ones and
    compare with the same path in PyTorch; a size frozen into the graph fails here, not at a user's."""
    import onnxruntime as ort

    batch, sizes = random_batch([(2 * divisor + 5, 7 * divisor - 3), (divisor - 5, 2 * divisor)], divisor, seed=1)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = [torch.from_numpy(t) for t in session.run(None, {"images": batch.numpy(), "image_sizes": sizes.numpy()})]
    with runtime.eval_mode(model), torch.no_grad():
        want = wrapper(batch, sizes)
    matched = len(match(want[:4], got[:4]))
    n = max(len(want[0]), len(got[0]))
    # Random pixels put many scores near the thresholds, where float rounding may flip a few.
    if matched < 0.95 * n:
        raise GnrcnnError(f"export check failed: of {n} detections only {matched} agree between onnxruntime and "
                          f"PyTorch on a batch of sizes {sizes.tolist()}; please report this")  # fmt: skip
    return f"{matched} of {n} detections agree with PyTorch on a 2-image batch of other sizes"


def save_model(proto: Any, path: str) -> int:
    """Write the model as one file (weights inside) atomically; its size in bytes."""
    data = proto.SerializeToString()
    write_bytes_atomic(data, path, "ONNX model")
    return len(data)
