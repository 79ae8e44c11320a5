"""Label Studio's brush masks: its own bit-packed run-length code (thi.ng's rle-pack), read and written with numpy.

A brush result's ``value.rle`` is a list of bytes holding a bit stream: a 32-bit count of values, the word
size minus one (5 bits), four run-length field sizes minus one (4 bits each), then chunks of
``flag(1) size-index(2) length-1(size bits)`` followed by one word (flag 1: a run of that word) or
``length`` words (flag 0: literal words). The values are the mask's RGBA canvas flattened, every
channel equal to the alpha (as Label Studio's editor and its SDK's ``mask2rle`` write it), so a mask of
W x H pixels holds 4 W H values and the alpha channel is the mask. The chunks are variable-length, so
decoding walks them one by one in Python, but a chunk covers a whole run of pixels (a row's crossing of
the mask's outline), never one pixel; the runs are expanded with ``np.repeat``. Encoding writes every
chunk as a run (what the SDK writes), built as one array of bits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

WORD = 8  # bits per value (the canvas' bytes)
RLE_SIZES = (3, 4, 8, 16)  # the SDK's and the editor's field sizes for a run's length
CHANNELS = 4  # RGBA
THRESHOLD = 128  # an alpha of at least this much is inside (the editor's antialiased brush edges)


class BrushError(ValueError):
    """A brush RLE that cannot be read; the message says why, in one line."""


class _Bits:
    """Big-endian reads of ``n``-bit unsigned integers from an unpacked bit array."""

    def __init__(self, data: np.ndarray) -> None:
        self.bits = np.unpackbits(data)
        self.pos = 0

    def read(self, n: int) -> int:
        end = self.pos + n
        if end > len(self.bits):
            raise BrushError(f"the RLE ends early (needs {end} bits, has {len(self.bits)})")
        chunk = self.bits[self.pos : end]
        self.pos = end
        return int(chunk @ (1 << np.arange(n - 1, -1, -1, dtype=np.int64)))

    def words(self, count: int, size: int) -> np.ndarray:
        end = self.pos + count * size
        if end > len(self.bits):
            raise BrushError(f"the RLE ends early (needs {end} bits, has {len(self.bits)})")
        chunk = self.bits[self.pos : end].reshape(count, size).astype(np.int64)
        self.pos = end
        return chunk @ (1 << np.arange(size - 1, -1, -1, dtype=np.int64))


def decode_values(rle: Sequence[int] | bytes) -> np.ndarray:
    """The flat values (uint8 up to 8-bit words) the RLE holds."""
    try:
        data = np.asarray(bytearray(rle) if isinstance(rle, bytes) else rle, dtype=np.int64)
    except (TypeError, ValueError):
        raise BrushError("rle is not a list of byte values") from None
    if data.ndim != 1 or len(data) < 7 or data.min() < 0 or data.max() > 255:
        raise BrushError("rle is not a list of byte values (0..255) with a header")
    stream = _Bits(data.astype(np.uint8))
    num, word = stream.read(32), stream.read(5) + 1
    sizes = [stream.read(4) + 1 for _ in range(4)]
    values, lengths, done = [], [], 0
    while done < num:
        is_run = stream.read(1)
        n = 1 + stream.read(sizes[stream.read(2)])
        n = min(n, num - done)  # the stream never runs past its count
        if is_run:
            values.append(np.array([stream.read(word)], np.int64))
            lengths.append(np.array([n]))
        else:
            values.append(stream.words(n, word))
            lengths.append(np.ones(n, np.int64))
        done += n
    if not values:
        return np.zeros(0, np.uint8)
    return np.repeat(np.concatenate(values), np.concatenate(lengths)).astype(np.uint8 if word <= 8 else np.int64)


def decode_mask(rle: Sequence[int] | bytes, height: int, width: int) -> np.ndarray:
    """The (height, width) bool mask of a brush result, or ``BrushError`` when it is not that size."""
    values = decode_values(rle)
    if len(values) != CHANNELS * height * width:
        pixels = len(values) / CHANNELS
        raise BrushError(f"the brush mask holds {pixels:g} pixels, not the {width}x{height} = {width * height} "
                         "of its original_width x original_height")  # fmt: skip
    return values.reshape(height, width, CHANNELS)[:, :, 3] >= THRESHOLD


def _runs(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, lengths) of the runs of equal values in ``flat``."""
    starts = np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1])
    lengths = np.diff(np.concatenate([starts, [len(flat)]]))
    return flat[starts], lengths


def encode_mask(mask: np.ndarray) -> list[int]:
    """The brush RLE of a bool (height, width) mask: RGBA all 255 inside, 0 outside, every chunk a run."""
    flat = np.asarray(mask, bool).reshape(-1)
    num = CHANNELS * len(flat)
    values, pixels = _runs(flat.astype(np.int64) * 255) if len(flat) else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    lengths = pixels * CHANNELS
    longest = 1 << RLE_SIZES[-1]
    pieces = -(-lengths // longest)  # runs longer than the largest field are split
    values = np.repeat(values, pieces)
    piece_start = np.repeat(np.cumsum(pieces) - pieces, pieces)
    lengths = np.minimum(np.repeat(lengths, pieces) - longest * (np.arange(len(values)) - piece_start), longest)
    size_index = np.searchsorted(1 << np.asarray(RLE_SIZES, np.int64), lengths - 1, side="right")
    field = np.asarray(RLE_SIZES, np.int64)[size_index]
    widths = 1 + 2 + field + WORD
    codes = (1 << (widths - 1)) | (size_index << (field + WORD)) | ((lengths - 1) << WORD) | values
    header = (num << 21) | ((WORD - 1) << 16)
    for k, size in enumerate(RLE_SIZES):
        header |= (size - 1) << (12 - 4 * k)
    codes = np.concatenate([[header >> 32, header & 0xFFFFFFFF], codes]).astype(np.int64)
    widths = np.concatenate([[21, 32], widths])  # the 53-bit header, split so every code fits 32 bits
    shift = widths[:, None] - 1 - np.arange(32)[None, :]
    bits = (codes[:, None] >> np.maximum(shift, 0)) & 1
    return np.packbits(bits[shift >= 0].astype(np.uint8)).tolist()
