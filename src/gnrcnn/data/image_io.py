"""Reading image files into H x W x 3 uint8 RGB arrays, with one clear error per bad file."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import GnrcnnError, read_input_file

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def read_image(path: str | Path) -> np.ndarray:
    """Decode to H x W x 3 uint8 RGB: EXIF orientation applied, grey and RGBA turned into RGB,
    16-bit samples reduced to 8 bits (as OpenCV's colour mode does)."""
    path = Path(path)
    data = read_input_file(path, "image")
    if path.suffix.lower() in (".bmp", ".tif", ".tiff"):
        return _read_with_opencv(path, data)
    try:
        with warnings.catch_warnings():
            # torchvision 0.29 announces a move of its decoders to TorchCodec; they still work.
            warnings.simplefilter("ignore", DeprecationWarning)
            from torchvision.io import ImageReadMode, decode_image

            img = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), ImageReadMode.RGB, True)
    except ImportError:  # a torchvision without image decoders: OpenCV decodes identically
        return _read_with_opencv(path, data)
    except (RuntimeError, ValueError) as e:
        # torchvision prefixes "decode_jpeg, /path/to/decode_jpeg.cpp:171, ": keep the reason only
        reason = re.sub(r"^\w+, \S+:\d+, ", "", str(e).splitlines()[0])[:120]
        raise GnrcnnError(f"{path}: cannot decode image ({reason})") from None
    if img.dtype == torch.uint16:
        img = (img.to(torch.int32) >> 8).to(torch.uint8)  # no uint16 shift on the CPU
    if img.dim() == 4:  # animated GIF: first frame
        img = img[0]
    return img.permute(1, 2, 0).contiguous().numpy()


def _read_with_opencv(path: Path, data: bytes) -> np.ndarray:
    import cv2

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise GnrcnnError(f"{path}: cannot decode image")
    return np.ascontiguousarray(img[..., ::-1])


def list_images(inputs: list[str]) -> list[Path]:
    """Files given directly plus the image files of given folders (sorted); errors name what is missing."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise GnrcnnError(f"{p}: folder holds no image files ({', '.join(IMAGE_SUFFIXES)})")
            out.extend(found)
        elif p.exists():
            out.append(p)
        else:
            raise GnrcnnError(f"{p}: no such image file or folder")
    return out
