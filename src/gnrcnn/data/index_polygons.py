"""Segmentations of the kept annotations, read from their raw JSON bytes in chunks into flat arrays.

A chunk of polygon lists decodes in one msgspec call; polygon lengths and coordinates go to numpy at
once. A chunk holding anything else (an RLE, a string, ``null``) is read annotation by annotation
with the general path's own check (``validate._check_segmentation``), so the outcome and the message
of every annotation are the ones the general path gives.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import msgspec
import numpy as np
from tqdm import tqdm

from .problems import SKIP, Problem
from .validate import _check_segmentation

CHUNK = 20_000
_POLYGONS = msgspec.json.Decoder(list[list[list[float]]])


@dataclass
class Segments:
    # Room for every coordinate the bytes can hold (each takes at least 2: a digit and "," or "]"): pages
    # never written cost nothing, and the end is given back in place (``finish``), so the coordinates are
    # never copied from chunks into one array (at train2017's size that copy is 370 MB more at the peak).
    coords: np.ndarray
    n_coords: int = 0
    keep: list[np.ndarray] = field(default_factory=list)  # per annotation: usable segmentation
    n_polys: list[np.ndarray] = field(default_factory=list)  # per annotation
    poly_len: list[np.ndarray] = field(default_factory=list)  # per polygon
    rle: dict[int, bytes] = field(default_factory=dict)  # position among the annotations -> its RLE as JSON
    problems: list[tuple[int, Problem]] = field(default_factory=list)  # (position, problem)

    def add_coords(self, c: np.ndarray) -> None:
        self.coords[self.n_coords : self.n_coords + len(c)] = c
        self.n_coords += len(c)

    def finish(self) -> None:
        self.coords.resize(self.n_coords, refcheck=False)  # realloc: shrinks in place


def _polygons(segs: list[list[list[float]]], first: int, name: Callable[[int], str], out: Segments) -> None:
    """Polygon lists of annotations ``first``, ``first + 1``, ... (each an annotation's list of polygons)."""
    n_poly = np.fromiter(map(len, segs), np.int64, len(segs))
    polys = list(chain.from_iterable(segs))
    plen = np.fromiter(map(len, polys), np.int64, len(polys))
    coords = np.fromiter(chain.from_iterable(polys), np.float64, int(plen.sum()))
    good = (plen >= 6) & (plen % 2 == 0)
    owner = np.repeat(np.arange(len(segs)), n_poly)
    n_good = np.bincount(owner, weights=good, minlength=len(segs)).astype(np.int64)
    for k in np.flatnonzero((n_good < n_poly) | (n_good == 0)):
        if n_good[k] == 0:
            msg = "no polygon with an even number (>= 6) of coordinates; dropped"
        else:
            msg = f"{n_poly[k] - n_good[k]} malformed polygon(s) dropped, the instance kept"
        out.problems.append((first + int(k), Problem(SKIP, name(first + int(k)), msg, "bad-polygon")))
    keep = n_good > 0
    n_good[~keep] = 0
    out.keep.append(keep)
    out.n_polys.append(n_good)
    out.poly_len.append(plen[good])
    out.add_coords(coords[np.repeat(good, plen)])


def _one(raw: bytes, pos: int, img: dict[str, Any], name: Callable[[int], str], out: Segments) -> None:
    """The general path's check of one segmentation (anything but a plain list of polygon lists)."""
    segm = msgspec.json.decode(raw)
    kept, problem = _check_segmentation(segm, img, name(pos))
    if problem is not None:
        out.problems.append((pos, problem))
    if isinstance(kept, dict):
        out.rle[pos] = json.dumps(kept).encode()
        kept = []
    if kept is None:
        out.keep.append(np.zeros(1, bool))
        out.n_polys.append(np.zeros(1, np.int64))
        return
    coords = [np.asarray(p, np.float64) for p in kept]
    out.keep.append(np.ones(1, bool))
    out.n_polys.append(np.array([len(coords)], np.int64))
    out.poly_len.append(np.array([len(c) for c in coords], np.int64))
    out.add_coords(np.concatenate(coords) if coords else np.zeros(0))


def read_segments(
    raws: Sequence[bytes], images: Callable[[int], dict[str, Any]], name: Callable[[int], str], progress: bool
) -> Segments:
    """``raws``: each kept annotation's segmentation bytes; ``images(pos)``/``name(pos)`` give its image
    (id, file name, size) and its one-line name, only for the few that need them."""
    out = Segments(coords=np.empty(sum(map(len, raws)) // 2 + 1, np.float64))
    bar = tqdm(total=len(raws), desc="polygons", unit="ann", disable=not progress or len(raws) < 20_000,
               file=sys.stderr, leave=False)  # fmt: skip
    for start in range(0, len(raws), CHUNK):
        part = raws[start : start + CHUNK]
        try:
            _polygons(_POLYGONS.decode(b"[" + b",".join(part) + b"]"), start, name, out)
        except msgspec.ValidationError:
            for k, raw in enumerate(part):
                try:
                    _polygons(_POLYGONS.decode(b"[" + raw + b"]"), start + k, name, out)
                except msgspec.ValidationError:
                    _one(raw, start + k, images(start + k), name, out)
        bar.update(len(part))
    bar.close()
    out.finish()
    return out
