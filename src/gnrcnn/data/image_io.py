"""Reading image files into H x W x 3 uint8 RGB arrays, with one clear error per bad file."""

from __future__ import annotations

import re
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..errors import GnrcnnError, read_input_file

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def video_codec(path: str | Path) -> str:
    """The FourCC a video written to ``path`` is encoded with: MJPG in .avi, mp4v otherwise."""
    return {".avi": "MJPG"}.get(Path(path).suffix.lower(), "mp4v")


def bundled_photo() -> str:
    """The photo shipped with the package (a 300 x 451 cat, ``assets/chelsea.png``): what ``gnrcnn bench``
    times and synthetic training batches are made of."""
    return str(resources.files("gnrcnn") / "assets" / "chelsea.png")


_DECODABLE = ("JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF")  # those suffixes as Pillow names them (MPO: JPEG)


class ImageTooLargeError(GnrcnnError):
    """An image whose declared size is over the pixel limit."""


_MAGIC = ((b"\xff\xd8", "JPEG"), (b"\x89PNG", "PNG"), (b"GIF8", "GIF"), (b"RIFF", "WebP"), (b"BM", "BMP"),
          (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))  # fmt: skip


def undecodable(head: bytes, fmt: str = "") -> str:
    """Why bytes starting with ``head`` are not a decodable image, in a few whole words (never a library's
    message, which names its own internals and is cut off in a one-line error)."""
    kind = fmt or next((k for magic, k in _MAGIC if head.startswith(magic)), "")
    if not head:
        return "not a decodable image (empty file)"
    if not kind:
        return "not a decodable image (no JPEG, PNG, GIF, WebP, BMP or TIFF header)"
    if kind.upper() not in _DECODABLE:
        return f"not a decodable image ({kind} is not supported: JPEG, PNG, GIF, WebP, BMP or TIFF)"
    return f"not a decodable image (a truncated or corrupt {kind} file)"


def read_image(path: str | Path) -> np.ndarray:
    """Decode to H x W x 3 uint8 RGB: EXIF orientation applied, grey and RGBA turned into RGB,
    16-bit samples reduced to 8 bits (as OpenCV's colour mode does)."""
    path = Path(path)
    data = read_input_file(path, "image")
    if path.suffix.lower() in (".bmp", ".tif", ".tiff"):
        return _decode_with_opencv(data, str(path))
    return _decode(data, str(path))


def decode_image_bytes(data: bytes, name: str, max_pixels: int | None = None) -> np.ndarray:
    """``read_image`` for bytes in memory (an upload): the same decoders, the same rules.

    The format is told by content. Pillow reads only the header first, so an image declaring more
    than ``max_pixels`` pixels (a decompression bomb) is refused before any pixel is decoded.
    """
    if not data:
        raise GnrcnnError(f"{name}: empty, no image")
    fmt, pixels, shape = image_header(data, name)
    limit = min(max_pixels or pixels, _pillow_limit())
    if pixels > limit:
        raise ImageTooLargeError(f"{name}: image declares {shape}{pixels / 1e6:.1f} Mpx, "
                                 f"over the limit of {limit / 1e6:.1f} Mpx")  # fmt: skip
    if fmt not in _DECODABLE:
        raise GnrcnnError(f"{name}: {fmt} images are not supported (send JPEG, PNG, GIF, WebP, BMP or TIFF)")
    if fmt in ("BMP", "TIFF"):
        return _decode_with_opencv(data, name)
    return _decode(data, name)


def _pillow_limit() -> int:
    from PIL import Image

    return 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else 1 << 62  # Pillow refuses above this


def image_header(data: bytes, name: str) -> tuple[str, int, str]:
    """(format, pixel count, "W x H = ") from the header alone, without decoding the pixels.

    Pillow refuses to open an image over twice its own limit: then only the count is known.
    """
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns (and raises over twice its limit); the caller's limit decides.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                return str(im.format), w * h, f"{w} x {h} = "
    except Image.DecompressionBombError as e:  # "Image size (900000000 pixels) exceeds limit of ..."
        count = re.search(r"\((\d+) pixels\)", str(e))
        return "", int(count.group(1)) if count else _pillow_limit() + 1, ""
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise GnrcnnError(f"{name}: {undecodable(data[:16])}") from None


def _decode(data: bytes, name: str) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # torchvision 0.29 announces a move of its decoders to TorchCodec; they still work.
            warnings.simplefilter("ignore", DeprecationWarning)
            from torchvision.io import ImageReadMode, decode_image

            img = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), ImageReadMode.RGB, True)
    except ImportError:  # a torchvision without image decoders: OpenCV decodes identically
        return _decode_with_opencv(data, name)
    except (RuntimeError, ValueError):
        raise _undecodable(data, name) from None
    if img.dtype == torch.uint16:
        img = (img.to(torch.int32) >> 8).to(torch.uint8)  # no uint16 shift on the CPU
    if img.dim() == 4:  # animated GIF: first frame
        img = img[0]
    return img.permute(1, 2, 0).contiguous().numpy()


def _undecodable(data: bytes, name: str) -> GnrcnnError:
    """The one line for bytes a decoder refused: the file and why, told from the header."""
    try:
        fmt = image_header(data, name)[0]
    except GnrcnnError as e:
        return e
    return GnrcnnError(f"{name}: {undecodable(data[:16], 'JPEG' if fmt == 'MPO' else fmt)}")


def _decode_with_opencv(data: bytes, name: str) -> np.ndarray:
    import cv2

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise _undecodable(data, name)
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
