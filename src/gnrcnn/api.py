"""The Python entry points: models by config name, config file or checkpoint, the pictures of their results,
and training (``train_model``, what ``gnrcnn train`` runs)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import build, runtime
from .build import build_model
from .config.schema import Config
from .data.preprocess import ImageInput, to_rgb_array
from .predict.detector import Detector
from .predict.model_files import is_onnx_path, is_openvino_path
from .predict.onnx_detector import OnnxDetector, load_onnx
from .predict.openvino_detector import OpenVinoDetector, load_openvino
from .structures import Instances
from .train.args import TrainArgs, TrainResult
from .train.hooks import Hook
from .train.options import training_config
from .train.trainer import Trainer
from .visualize import draw as results

__all__ = ["build_model", "draw", "load_model", "train_model"]


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
    """``load_model("mask-rcnn_r50_fpn_gn-all_2x_coco")`` -> a ready ``Detector`` with the published weights;
    ``load_model("work/best.pth")`` (or a URL, ``hf://``, ``.onnx``, ``.xml``) -> that file's model with the config
    inside it.

    ``weights``: a file (a gnrcnn checkpoint, a published MMDetection or detectron2 file, ...: told
    by content; loading never runs code from the file; ``.safetensors`` too), an ``http(s)://`` URL or a
    zoo name (downloaded once, hash-checked and cached: ``weights/hub.py``), ``hf://owner/repo[@revision]``
    (the Hugging Face Hub, through huggingface_hub: ``weights/hf_hub.py``), or ``"none"`` for a randomly
    initialised model. Omitted, a zoo config means its published checkpoint; any other config
    needs an explicit choice. ``tf32`` switches TF32 for the whole process (CUDA only). An exported
    ``.onnx`` file (as ``config`` or ``weights``) gives an ``OnnxDetector`` with the same interface,
    running in onnxruntime; an OpenVINO ``model.xml`` an ``OpenVinoDetector`` (``amp="bf16"``: bf16
    where the CPU has it). ``amp``: "bf16", "fp16" (CUDA), "auto" (what ``--amp auto`` picks) or None (fp32).

    Like the ``gnrcnn`` command, it first keeps freed tensor memory in the process
    (``runtime.keep_freed_memory``: up to 1.6x faster on the CPU); ``malloc="system"`` or
    ``GNRCNN_MALLOC=system`` keeps glibc's defaults instead (less peak memory).
    """
    runtime.apply_malloc(malloc)
    if weights is None and build.is_weights_spec(config):  # load_model("work/best.pth"), as --weights takes it
        config, weights = None, config
    if is_onnx_path(config) or is_onnx_path(weights):
        return load_onnx(config, weights, device, overrides, amp, compile)
    if is_openvino_path(config) or is_openvino_path(weights):
        return load_openvino(config, weights, device, overrides, amp, compile)
    cfg, model = build.load(config, weights, overrides)
    if torch.device(device).type == "cuda":
        runtime.set_tf32(tf32)
    return Detector(cfg, model, device=device, amp=amp, compile=compile, owns_model=True)


def draw(
    image: ImageInput, instances: Instances, score_thr: float | None = None, color: str | None = None
) -> np.ndarray:
    """The picture ``gnrcnn predict`` saves: masks, boxes and 'name score' labels over ``image``.

    ``image``: a path, an H x W x 3 uint8 array or a uint8 tensor, with ``color`` as ``Detector.predict``
    takes it (arrays BGR by default); ``instances``: its detections. Returns H x W x 3 uint8 in the array's
    own channel order (so ``cv2.imwrite`` writes what ``cv2.imread`` read), RGB for a path or a tensor.
    ``score_thr`` (default: ``predict``'s) hides weaker detections from the picture.
    """
    rgb, _ = to_rgb_array(image, color)
    options = {} if score_thr is None else {"score_thr": score_thr}
    out = results.draw(rgb, instances.to("cpu"), **options).permute(1, 2, 0).numpy()
    bgr = (color or ("bgr" if isinstance(image, np.ndarray) else "rgb")) == "bgr"
    return np.ascontiguousarray(out[..., ::-1] if bgr else out)  # contiguous: OpenCV draws on it as it is


def train_model(
    config: str | Path | Config, *, data_root: str | Path, ann: str | Path, work_dir: str | Path,
    val_ann: str | Path | None = None, val_data_root: str | Path | None = None, weights: str | None = None,
    backbone_weights: str | None = None, callbacks: Sequence[Hook | Callable[..., None]] = (),
    overrides: list[str] | None = None, resume: bool | str = False, overwrite: bool = False,
    max_iters: int | None = None,
    stop_at: int | None = None, device: str | None = None, amp: str | None = None, **options: Any,
) -> TrainResult:  # fmt: skip
    """Train as ``gnrcnn train`` does, from Python: the same options, by the flags' names
    (``batch_size=2``, ``eval_every="500it"`` or ``1``, ``early_stop=3``, ``ema=0.999``, ``clip_grad=10``,
    ``keep_empty=True``, ``scale=(640, 1066)``, ``seed``, ``num_workers``, ``accumulate``, ``best_metric``,
    ``mlflow="http://host:5000"``), any config value in ``overrides`` (``["train.base_lr=0.01"]``).

    ``callbacks``: ``Hook`` objects (``gnrcnn.train.hooks.Hook``: called before and after training, each
    step and each evaluation, among the loop's own hooks) or plain functions ``f(trainer, batches)``
    called after every step. Returns a ``TrainResult``: how the run ended, the iteration it stopped at,
    the final metrics, the paths of ``model_final.pth`` and ``best.pth``. Under torchrun every process
    calls it (``torchrun --nproc-per-node 2 my_script.py``); the trainer joins and leaves the group.
    A signal (SIGTERM, Ctrl-C) raises ``TrainingInterruptedError`` after a checkpoint; ``resume=True``
    continues. A ``work_dir`` holding another run's files is refused unless ``resume`` or ``overwrite``
    (which clears them first). ``device``: default ``cuda`` when available.
    """
    import torch

    cfg = training_config(config, overrides, **options)
    args = TrainArgs(data_root=str(data_root), ann=str(ann), work_dir=str(work_dir), val_ann=_str(val_ann),
                     val_data_root=_str(val_data_root), weights=weights, backbone_weights=backbone_weights,
                     resume=resume, overwrite=overwrite, max_iters=max_iters, stop_at=stop_at, amp=amp,
                     device=device or ("cuda" if torch.cuda.is_available() else "cpu"))  # fmt: skip
    return Trainer(cfg, args, callbacks).fit()


def _str(path: str | Path | None) -> str | None:
    return None if path is None else str(path)
