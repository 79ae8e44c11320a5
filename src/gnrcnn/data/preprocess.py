"""Images -> the network's input: resize, channel order, normalise, pad into a batch.

Shapes: inputs H x W x 3 uint8 (arrays) or (3, H, W) / (H, W, 3) uint8 tensors, or file paths;
batch (N, 3, Hp, Wp) float32 with Hp, Wp multiples of ``size_divisor``; image_sizes (N, 2) as (h, w).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from ..config.schema import InputConfig
from ..errors import GnrcnnError
from ..structures import ImageMeta
from .image_io import read_image

ImageInput = str | Path | np.ndarray | torch.Tensor


def scaled_size(h: int, w: int, short: int, long: int, style: str = "mmdet") -> tuple[int, int]:
    """(new_h, new_w) keeping the aspect ratio, short side <= ``short`` and long side <= ``long``."""
    if style == "detectron2":
        scale = short / min(h, w)
        nh, nw = (short * 1.0, scale * w) if h < w else (scale * h, short * 1.0)
        if max(nh, nw) > long:
            s = long / max(nh, nw)
            nh, nw = nh * s, nw * s
        return int(nh + 0.5), int(nw + 0.5)
    scale = min(long / max(h, w), short / min(h, w))
    return int(h * scale + 0.5), int(w * scale + 0.5)


def resize(img: np.ndarray, size: tuple[int, int], style: str = "mmdet") -> np.ndarray:
    """Resize H x W x C uint8 to ``size`` (h, w): OpenCV bilinear, or Pillow bilinear for detectron2."""
    h, w = size
    if img.shape[:2] == (h, w):
        return img
    if style == "detectron2":
        from PIL import Image

        return np.array(Image.fromarray(img).resize((w, h), Image.BILINEAR))
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)


def to_rgb_array(image: ImageInput, color: str | None = "rgb") -> tuple[np.ndarray, str]:
    """Any accepted input -> (H x W x 3 uint8 RGB array, name). ``color``: the channel order of an array or
    tensor; None means each type's convention: numpy arrays BGR (as OpenCV reads them), tensors RGB."""
    if color is None:
        color = "bgr" if isinstance(image, np.ndarray) else "rgb"
    if isinstance(image, (str, Path)):
        return read_image(image), str(image)
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.dim() == 3 and t.shape[0] == 3 and t.shape[-1] != 3:
            t = t.permute(1, 2, 0)
        arr = t.contiguous().numpy()
    elif isinstance(image, np.ndarray):
        arr = image
    else:
        raise GnrcnnError(f"unsupported image input of type {type(image).__name__}")
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise GnrcnnError(f"image array must be H x W x 3 (or 3 x H x W tensor), got shape {tuple(arr.shape)}")
    if arr.dtype != np.uint8:
        raise GnrcnnError(f"image array must be uint8, got {arr.dtype}")
    arr = arr[..., :3]
    if color == "bgr":
        arr = arr[..., ::-1]
    elif color != "rgb":
        raise GnrcnnError(f"color must be 'rgb' or 'bgr', got '{color}'")
    return np.ascontiguousarray(arr), ""


def pad_shape(size: tuple[int, int], divisor: int) -> tuple[int, int]:
    return (-(-size[0] // divisor) * divisor, -(-size[1] // divisor) * divisor)


def pad_batch(images: list[torch.Tensor], divisor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(3, h, w) uint8 tensors -> (N, 3, Hp, Wp) uint8 zero-padded batch and (N, 2) float sizes (h, w)."""
    hs, ws = [t.shape[1] for t in images], [t.shape[2] for t in images]
    hp, wp = pad_shape((max(hs), max(ws)), divisor)
    batch = torch.zeros((len(images), 3, hp, wp), dtype=torch.uint8)
    for i, t in enumerate(images):
        batch[i, :, : t.shape[1], : t.shape[2]] = t
    return batch, torch.tensor(list(zip(hs, ws)), dtype=torch.float32)


class Normalizer:
    """Channel order and (x - mean) / std on the target device; the padding stays exactly zero.

    Batches travel as uint8 (a quarter of the bytes of float32) and are normalised where they land.
    """

    def __init__(self, cfg: InputConfig, device: torch.device | str = "cpu") -> None:
        self.to_rgb = cfg.to_rgb
        self.divisor = cfg.size_divisor
        self.device = torch.device(device)
        self.mean = torch.tensor(cfg.mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg.std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)

    def normalize(self, batch: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
        """(N, 3, Hp, Wp) uint8 RGB, zero padded -> float32 network input."""
        x = batch.to(self.device, non_blocking=True)
        if not self.to_rgb:
            x = x.flip(1)
        x = (x.float() - self.mean) / self.std
        sizes = sizes.to(self.device)
        ys = torch.arange(x.shape[2], device=self.device)[None, :, None] < sizes[:, 0, None, None]
        xs = torch.arange(x.shape[3], device=self.device)[None, None, :] < sizes[:, 1, None, None]
        return x.mul_((ys & xs)[:, None])

    def __call__(self, images: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """RGB uint8 (3, h, w) tensors -> (normalised batch, image_sizes), both on the device."""
        batch, sizes = pad_batch(images, self.divisor)
        return self.normalize(batch, sizes), sizes.to(self.device)


class Preprocessor:
    """Files, arrays or tensors -> normalised padded batch + per-image metadata."""

    def __init__(self, cfg: InputConfig, device: torch.device | str = "cpu") -> None:
        self.cfg = cfg
        self.normalizer = Normalizer(cfg, device)

    def load(self, image: ImageInput, color: str | None = "rgb", scale: float = 1.0) -> tuple[torch.Tensor, ImageMeta]:
        """Decode + resize one image on the CPU: ((3, h, w) uint8 RGB tensor, meta). ``scale`` multiplies the
        test scale (``input.short`` / ``input.long``; test-time augmentation's other scales)."""
        arr, name = to_rgb_array(image, color)
        h, w = arr.shape[:2]
        short, long = (self.cfg.short, self.cfg.long) if scale == 1 else (round(self.cfg.short * scale),
                                                                          round(self.cfg.long * scale))  # fmt: skip
        nh, nw = scaled_size(h, w, short, long, self.cfg.resize)
        out = resize(arr, (nh, nw), self.cfg.resize)
        meta = ImageMeta((h, w), (nh, nw), (nw / w, nh / h), name)
        return torch.from_numpy(np.ascontiguousarray(out)).permute(2, 0, 1), meta

    def batch(self, tensors: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``load``'s (3, h, w) uint8 tensors -> the model's batch and (N, 2) image sizes."""
        return self.normalizer(tensors)

    def __call__(
        self, images: list[ImageInput], color: str | None = "rgb"
    ) -> tuple[torch.Tensor, torch.Tensor, list[ImageMeta]]:
        loaded = [self.load(im, color) for im in images]
        batch, sizes = self.batch([t for t, _ in loaded])
        return batch, sizes, [m for _, m in loaded]


class RawPreprocessor(Preprocessor):
    """``Preprocessor`` up to the resize: zero-padded uint8 RGB batches, normalised later on the device
    (an exported graph normalises inside)."""

    def batch(self, tensors: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return pad_batch(tensors, self.cfg.size_divisor)
