"""A built model with its config and preprocessing: images in, per-image ``Instances`` out."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from ..config import Config
from ..data.preprocess import ImageInput, Preprocessor
from ..modeling import MaskRCNN, postprocess
from ..structures import ImageMeta, Instances

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, amp: str | None) -> contextlib.AbstractContextManager[Any]:
    """bf16/fp16 autocast for convolutions and matmuls; GroupNorm stays fp32 (see GroupNorm32)."""
    if not amp:
        return contextlib.nullcontext()
    if amp == "fp16" and device.type != "cuda":
        from ..errors import GnrcnnError

        raise GnrcnnError("--amp fp16 needs a CUDA device; use --amp bf16 on the CPU")
    return torch.autocast(device_type=device.type, dtype=AMP_DTYPES[amp])


class Detector:
    """``Detector(cfg, model)(images)`` -> list of ``Instances`` in original-image pixels."""

    def __init__(
        self, cfg: Config, model: MaskRCNN, device: torch.device | str = "cpu", amp: str | None = None,
        compile: bool = False, tf32: bool = False,
    ) -> None:  # fmt: skip
        self.cfg = cfg
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.amp = amp
        self.preprocessor = Preprocessor(cfg.input, self.device)
        if self.device.type == "cuda":
            # fp32 means fp32: TF32 convolutions (PyTorch's default for cuDNN) change results at 1e-3.
            torch.backends.cudnn.allow_tf32 = tf32
            torch.backends.cuda.matmul.allow_tf32 = tf32
        if amp == "bf16":
            # Convolution and linear weights in bf16 once, rather than cast by autocast at every call;
            # norms keep fp32 weights. (The model then belongs to this bf16 detector.)
            for m in self.model.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                    m.to(torch.bfloat16)
        if compile:
            self.model.compile_parts()

    @property
    def class_names(self) -> list[str]:
        return list(self.cfg.data.class_names)

    @torch.inference_mode()
    def run_batch(self, batch: torch.Tensor, sizes: torch.Tensor, metas: list[ImageMeta]) -> list[Instances]:
        """The network on an already preprocessed batch (see ``Preprocessor``)."""
        with autocast(self.device, self.amp):
            dets, probs = self.model(batch.to(self.device), sizes.to(self.device))
        return postprocess(dets, probs, metas, self.cfg.model.roi.mask_thr, self.cfg.model.box_coding)

    def iter_predict(self, images: list[ImageInput], color: str = "rgb", batch_size: int = 1) -> Iterator[Instances]:
        for i in range(0, len(images), batch_size):
            batch, sizes, metas = self.preprocessor(images[i : i + batch_size], color)
            yield from self.run_batch(batch, sizes, metas)

    def predict(
        self, images: list[ImageInput] | ImageInput, color: str = "rgb", batch_size: int = 1
    ) -> list[Instances]:
        """File paths, H x W x 3 uint8 arrays (``color`` = their channel order) or uint8 tensors.

        Batch size 1 reproduces the reference exactly: in a batch every image is zero-padded to the
        largest, and GroupNorm statistics include that padding.
        """
        if not isinstance(images, (list, tuple)):
            images = [images]
        return list(self.iter_predict(list(images), color, batch_size))

    __call__ = predict
