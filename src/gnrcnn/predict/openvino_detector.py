"""A detector that runs an OpenVINO model (``gnrcnn export --format openvino``, fp32 or INT8) on the
CPU: ``OnnxDetector``'s interface, config from metadata, resize before the graph and post-processing
after it (inherited), with OpenVINO in place of onnxruntime.

Precision: fp32 unless asked (OpenVINO would pick bf16 by itself on CPUs that have it, which is not
exact); ``amp="bf16"`` asks for bf16 where the CPU has it. One image at a time runs on a model
compiled for latency (all threads on one request). ``start_throughput()`` compiles it a second time
for throughput (several streams, each with a share of the threads) with a pool of as many infer
requests as OpenVINO finds optimal for it (one per stream): ``gnrcnn predict`` does that for
folders and calls ``run_batch`` from as many threads as there are requests, so several images are in
flight while the next ones decode. A pool of
synchronous requests rather than ``AsyncInferQueue``: a request that fails never calls the queue's
callback (OpenVINO 2026.4), so a caller waiting for its outputs would wait forever, while ``infer``
raises the error in the caller's thread.

Static shapes: the model takes any image size, and a model compiled for any size plans its memory and
picks its kernels at every call. A padded input size seen for the second time gets a model compiled
for that size alone (about 1 s for R-50 INT8), for latency or throughput as the detector runs, with
its own pool of requests, kept for the next images of that size (at most ``STATIC_KEEP`` sizes, the
least recently used dropped): R-50 INT8 at 800 x 1216 on a 2-core AMD EPYC ran 1.65 s instead of
1.80 s per image (docs/benchmarks.md). The same graph and weights: fp32 gives the same detections
(tests/export/test_openvino.py). The cost is memory. The model for any size keeps the buffers of the
sizes it ran, so they are released (``release_memory``) once a static model takes a size over:
R-50 INT8's peak over four images of one size 2.29 GB with them kept, 2.00 GB released (static
shapes off: 1.70 GB, docs/benchmarks.md). ``static_shapes=False`` turns it off.

RoIAlign: OpenVINO runs it in the layout of its input, and the FPN's GroupNorm hands it channels-first
maps, on which its kernel is an order of magnitude slower than on channels-last ones. The loaded graph
gets a channels-last copy of each feature map for RoIAlign (``export/openvino.py``,
``roi_align_reads_channels_last_in_place``): R-50 INT8 1.72 to 1.40 s per image, fp32 3.97 to 3.58 s.
``channels_last_roi_align=False`` runs the graph as exported.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.preprocess import RawPreprocessor
from ..errors import GnrcnnError
from ..runtime import openvino_core
from ..structures import Detections
from .model_files import is_openvino_path
from .onnx_detector import OnnxDetector
from .openvino_runtime import compile_model, metadata_of, read_model, roi_align_reads_channels_last_in_place

PRECISIONS = {None: "f32", "bf16": "bf16"}
STATIC_AFTER = 2  # a padded input size seen this many times gets a model compiled for it alone
STATIC_KEEP = 4  # such models kept at once


def has_bf16() -> bool:
    """Whether OpenVINO runs bf16 on this CPU (it has no emulation: without it, bf16 runs as f32)."""
    return "BF16" in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def inference_precision(amp: str | None) -> str:
    """OpenVINO's ``INFERENCE_PRECISION_HINT`` for ``--amp``: f32, or bf16 where this CPU has it."""
    if amp not in PRECISIONS:
        raise GnrcnnError(f"--amp {amp}: an OpenVINO model runs in fp32 or bf16 (--amp bf16) on the CPU")
    if amp == "bf16" and not has_bf16():
        print("warning: this CPU has no bf16 support in OpenVINO: running in fp32", file=sys.stderr)
        return "f32"
    return PRECISIONS[amp]


class OpenVinoDetector(OnnxDetector):
    """``OpenVinoDetector("model.xml").predict(images)`` -> list of ``Instances`` in original-image pixels."""

    def __init__(
        self, path: str | Path, *, overrides: list[str] | None = None, amp: str | None = None,
        threads: int | None = None, static_shapes: bool = True, properties: dict[str, Any] | None = None,
        channels_last_roi_align: bool = True,
    ) -> None:  # fmt: skip
        """``threads``: OpenVINO's inference threads (default: its own choice, the physical cores);
        ``static_shapes``: compile a model for each input size that recurs (above); ``properties``: more
        OpenVINO properties for every compilation (e.g. ``{"PERF_COUNT": True}``);
        ``channels_last_roi_align``: RoIAlign reads a channels-last copy of each feature map (above)."""
        self.path = Path(path)
        self.model = read_model(self.path)
        if channels_last_roi_align:
            roi_align_reads_channels_last_in_place(self.model)
        self.metadata = metadata_of(self.model)
        if "gnrcnn.config" not in self.metadata:
            raise GnrcnnError(f"{self.path}: no gnrcnn metadata in this OpenVINO model (make it with `gnrcnn export`)")
        self.cfg = self._config(overrides)
        self.device = torch.device("cpu")
        self.preprocessor = RawPreprocessor(self.cfg.input)
        self.precision = inference_precision(amp)
        self.int8 = any(op.get_type_name() == "FakeQuantize" for op in self.model.get_ops())
        # what ``Detector.amp`` says for a PyTorch model (``gnrcnn serve``'s /model reports it)
        labels = (["int8"] if self.int8 else []) + (["bf16"] if self.precision == "bf16" else [])
        self.amp = "+".join(labels) or None
        self.options: dict[str, Any] = {"INFERENCE_PRECISION_HINT": self.precision}
        if threads:
            self.options["INFERENCE_NUM_THREADS"] = threads
        self.options.update(properties or {})
        # the compiled model for any size, whose requests ``pool`` holds (latency, then throughput)
        self.compiled = compile_model(self.model, {**self.options, "PERFORMANCE_HINT": "LATENCY"})
        self.request = self.compiled.create_infer_request()
        self.last_request = self.request  # the request of the latest call (for its profiling counters)
        self.hint, self.requests = "LATENCY", 1  # requests: how many ``run_graph`` calls may be in flight at once
        self.pool: queue.Queue = queue.Queue()  # idle requests of the model for any size
        self.pool.put(self.request)
        self.static_shapes = static_shapes
        self.static: OrderedDict[tuple[int, ...], queue.Queue] = OrderedDict()  # input shape -> idle requests
        self.seen: Counter[tuple[int, ...]] = Counter()
        self.lock = threading.Lock()

    def start_throughput(self) -> int:
        """Compile for throughput (once) and run every later ``run_graph`` on pools of infer requests;
        how many requests each has (as many ``run_graph`` calls may be in flight at once)."""
        with self.lock:
            if self.hint != "THROUGHPUT":
                self.hint = "THROUGHPUT"
                compiled = compile_model(self.model, {**self.options, "PERFORMANCE_HINT": self.hint})
                self.requests = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
                self.pool = self._requests(compiled)
                release_memory(self.compiled)  # the latency model's buffers: it runs no more
                self.compiled = compiled
                self.static.clear()  # compiled for latency: recompiled for throughput when their size recurs
        return self.requests

    def run_graph(self, batch: torch.Tensor, sizes: torch.Tensor) -> tuple[Detections, torch.Tensor]:
        """The graph on a zero-padded uint8 RGB batch (N, 3, H, W) and its (N, 2) image sizes."""
        feeds = {"images": batch.cpu().numpy(), "image_sizes": sizes.cpu().numpy().astype(np.int64)}
        pool = self._pool_for(tuple(batch.shape))
        request = pool.get()  # callers beyond the pool's requests (threads of a server) wait their turn
        try:
            outputs = [np.array(t) for t in request.infer(feeds).values()]
            self.last_request = request
        finally:
            pool.put(request)
        boxes, scores, labels, image_ids, probs = (torch.from_numpy(o) for o in outputs)
        return Detections(boxes, scores, labels, image_ids), probs

    def _requests(self, compiled: Any) -> queue.Queue:
        pool: queue.Queue = queue.Queue()
        for _ in range(self.requests):
            pool.put(compiled.create_infer_request())
        return pool

    def _pool_for(self, shape: tuple[int, ...]) -> queue.Queue:
        """The idle requests for a batch of ``shape``: its own static model's once the size recurs."""
        with self.lock:
            if not self.static_shapes:
                return self.pool
            if shape in self.static:
                self.static.move_to_end(shape)
                return self.static[shape]
            if len(self.seen) > 10_000:  # a stream of ever new sizes: forget them rather than grow
                self.seen.clear()
            self.seen[shape] += 1
            if self.seen[shape] < STATIC_AFTER:
                return self.pool
            model = self.model.clone()
            model.reshape({"images": list(shape), "image_sizes": [shape[0], 2]})
            release_memory(self.compiled)  # its buffers for this size, before the static model takes its own
            self.static[shape] = self._requests(compile_model(model, {**self.options, "PERFORMANCE_HINT": self.hint}))
            if len(self.static) > STATIC_KEEP:
                self.static.popitem(last=False)
            return self.static[shape]


def release_memory(compiled: Any) -> None:
    """Free what ``compiled`` allocated for the inputs it ran (it allocates again when it runs next),
    unless a request of it is running in another thread, which OpenVINO refuses."""
    with contextlib.suppress(RuntimeError):
        compiled.release_memory()


def load_openvino(
    config: object, weights: object, device: str | torch.device, overrides: list[str] | None, amp: str | None,
    compile: bool,
) -> OpenVinoDetector:  # fmt: skip
    """``load_model``'s path for an OpenVINO model, given as ``config`` or as ``weights`` (not both)."""
    if config is not None and weights is not None:
        raise GnrcnnError(f"{weights if is_openvino_path(weights) else config}: an OpenVINO model carries its own "
                          "config; give it alone (--weights model.xml, no --config)")  # fmt: skip
    if compile:
        raise GnrcnnError("--compile applies to PyTorch models, not to an OpenVINO model")
    if torch.device(device).type != "cpu":
        print(f"warning: OpenVINO models run on the CPU here, not on {device}", file=sys.stderr)
    return OpenVinoDetector(str(config if weights is None else weights), overrides=overrides, amp=amp)
