"""Segmentations of the kept annotations, read from their raw JSON bytes in chunks into flat arrays.

A chunk of polygon lists decodes in one msgspec call; polygon lengths and coordinates go to numpy at
once. A chunk holding anything else (an RLE, a string, ``null``) is read annotation by annotation
with the general path's own check (``validate._check_segmentation``), so the outcome and the message
of every annotation are the ones the general path gives. Its polygon checks (``validate._check_polygons``:
zero-area polygons, box and polygon extent disagreeing) run here as array operations over the flat
coordinates, with the same float operations in the same order, so both paths judge every polygon alike.
(Not the shoelace area: a symmetric bow tie's signed area is 0, yet it is a real shape; "all points on
one line" is what makes a polygon cover nothing.)
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

from ..progress import progress as progress_bar
from .index import offsets, ranges
from .problems import SKIP, Problem
from .validate import BOX_POLYGON_MIN_IOU, NO_POLYGON, ZERO_AREA, _check_segmentation, mismatch_message, partial_message

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


def _off_line(ux: np.ndarray, uy: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Step (dx, dy) from the first point leaves the line along (ux, uy): ``collinear``'s test, its operations."""
    return np.abs(ux * dy - uy * dx) > 1e-9 * (np.abs(ux) + np.abs(uy)) * (np.abs(dx) + np.abs(dy) + 1)


def flat_polygons(coords: np.ndarray, plen: np.ndarray) -> np.ndarray:
    """Per polygon (``coords`` flat [x0, y0, x1, ...], ``plen`` coordinates each, every one >= 6): ``collinear``.

    As ``collinear`` returns at the first point off the line, almost every polygon is decided by its third
    point (its second being a step away from the first); the few others are tested at every point: a point
    is off when its cross product with the first step away from the first point exceeds the relative
    tolerance, and points before that step are the first point again (cross product 0)."""
    npts = plen // 2
    start = offsets(npts)[:-1]
    x, y = coords[0::2], coords[1::2]
    with np.errstate(over="ignore", invalid="ignore"):  # huge coordinates: inf and nan compare as Python's do
        ux, uy = x[start + 1] - x[start], y[start + 1] - y[start]
        flat = ~(((ux != 0) | (uy != 0)) & _off_line(ux, uy, x[start + 2] - x[start], y[start + 2] - y[start]))
        rest = np.flatnonzero(flat)
        if len(rest):
            flat[rest] = _flat_everywhere(x, y, start[rest], npts[rest])
    return flat


def _flat_everywhere(x: np.ndarray, y: np.ndarray, start: np.ndarray, npts: np.ndarray) -> np.ndarray:
    """``collinear`` of the polygons of ``npts`` points at ``start``, testing all their points."""
    pts = ranges(start, npts)
    x, y = x[pts], y[pts]
    start = offsets(npts)[:-1]
    dx, dy = x - np.repeat(x[start], npts), y - np.repeat(y[start], npts)
    moved = (dx != 0) | (dy != 0)
    first = np.minimum.reduceat(np.where(moved, np.arange(len(x)), len(x)), start)
    step = np.minimum(first, len(x) - 1)
    ux = np.repeat(np.where(first < len(x), dx[step], 0.0), npts)
    uy = np.repeat(np.where(first < len(x), dy[step], 0.0), npts)
    return ~np.logical_or.reduceat(_off_line(ux, uy, dx, dy), start)


def extent_iou(coords: np.ndarray, plen: np.ndarray, n_polys: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Per annotation (``n_polys`` consecutive polygons each; ``boxes`` [x, y, w, h]): the IoU of its polygons'
    extent with its box, as ``_extent_iou``; nan for an annotation without polygons."""
    iou = np.full(len(n_polys), np.nan)
    has = n_polys > 0
    if not has.any():
        return iou
    start, pts = offsets(plen // 2)[:-1], coords.reshape(-1, 2)
    lo, hi = np.minimum.reduceat(pts, start), np.maximum.reduceat(pts, start)  # per polygon
    if len(lo) != has.sum():  # some annotation has several polygons (most have one)
        first = offsets(n_polys)[:-1][has]
        lo, hi = np.minimum.reduceat(lo, first), np.maximum.reduceat(hi, first)
    (px0, py0), (px1, py1) = lo.T, hi.T
    bx, by, bw, bh = boxes[has].T
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        iw = np.maximum(0.0, np.minimum(px1, bx + bw) - np.maximum(px0, bx))
        ih = np.maximum(0.0, np.minimum(py1, by + bh) - np.maximum(py0, by))
        union = (px1 - px0) * (py1 - py0) + bw * bh - iw * ih
        iou[has] = np.where(union > 0, iw * ih / np.where(union > 0, union, 1.0), 0.0)
    return iou


def _verdicts(plen: np.ndarray, owner: np.ndarray, coords: np.ndarray, boxes: np.ndarray, n_poly: np.ndarray
              ) -> tuple[np.ndarray, list[tuple[int, str]], np.ndarray, np.ndarray]:  # fmt: skip
    """(which polygons are kept, (annotation, kind) of each problem, polygons dropped and extent IoU per
    annotation), decided as ``validate._check_polygons`` does, in its order: no well-formed polygon, all of
    them zero-area, box and extent disagreeing, then some (malformed or zero-area) dropped."""
    n = len(n_poly)
    good = (plen >= 6) & (plen % 2 == 0)
    g_coords, g_len, g_owner = (coords, plen, owner) if good.all() else (coords[np.repeat(good, plen)], plen[good],
                                                                           owner[good])  # fmt: skip
    flat = flat_polygons(g_coords, g_len)
    n_good = np.bincount(g_owner, minlength=n)
    n_flat = np.bincount(g_owner[flat], minlength=n)
    iou = extent_iou(g_coords, g_len, n_good, boxes)
    dropped = n_poly - n_good + n_flat
    checks = [("bad-polygon", n_good == 0), ("zero-area-polygon", n_flat == n_good),
              ("box-polygon-mismatch", iou < BOX_POLYGON_MIN_IOU), ("partial", dropped > 0)]  # fmt: skip
    alive, failed = np.ones(n, bool), []
    for kind, bad in checks:
        failed += [(int(k), kind) for k in np.flatnonzero(alive & bad)]
        alive &= ~bad | (kind == "partial")  # a partial drop keeps the instance
    keep_poly = np.zeros(len(plen), bool)
    keep_poly[np.flatnonzero(good)[~flat & alive[g_owner]]] = True
    return keep_poly, sorted(failed), dropped, iou


def _polygons(segs: list[list[list[float]]], first: int, boxes: np.ndarray, name: Callable[[int], str],
              box: Callable[[int], list[Any]], out: Segments) -> None:  # fmt: skip
    """Polygon lists of annotations ``first``, ``first + 1``, ... (each an annotation's list of polygons;
    ``boxes`` their [x, y, w, h]; ``box(pos)`` one as the file wrote it, for a message)."""
    n_poly = np.fromiter(map(len, segs), np.int64, len(segs))
    polys = list(chain.from_iterable(segs))
    plen = np.fromiter(map(len, polys), np.int64, len(polys))
    coords = np.fromiter(chain.from_iterable(polys), np.float64, int(plen.sum()))
    owner = np.repeat(np.arange(len(segs)), n_poly)
    keep_poly, failed, dropped, iou = _verdicts(plen, owner, coords, boxes, n_poly)
    for k, kind in failed:
        msg = {"bad-polygon": NO_POLYGON, "zero-area-polygon": ZERO_AREA}.get(kind)
        if kind == "box-polygon-mismatch":
            msg = mismatch_message(box(first + k), float(iou[k]))
        elif kind == "partial":
            kind, msg = "bad-polygon", partial_message(int(dropped[k]))
        out.problems.append((first + k, Problem(SKIP, name(first + k), str(msg), kind)))
    n_kept = np.bincount(owner[keep_poly], minlength=len(segs))
    out.keep.append(n_kept > 0)
    out.n_polys.append(n_kept)
    out.poly_len.append(plen[keep_poly])
    out.add_coords(coords if keep_poly.all() else coords[np.repeat(keep_poly, plen)])


def _one(raw: bytes, pos: int, img: dict[str, Any], bbox: list[Any], name: str, out: Segments) -> None:
    """The general path's check of one segmentation (anything but a plain list of polygon lists)."""
    segm = msgspec.json.decode(raw)
    kept, problem = _check_segmentation(segm, img, name, bbox)
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
    raws: Sequence[bytes], boxes: np.ndarray, images: Callable[[int], dict[str, Any]], name: Callable[[int], str],
    box: Callable[[int], list[Any]], progress: bool,
) -> Segments:  # fmt: skip
    """``raws``: each kept annotation's segmentation bytes; ``boxes``: their [x, y, w, h]; ``images(pos)``,
    ``name(pos)`` and ``box(pos)`` give its image (id, file name, size), its one-line name and its box as the
    file wrote it, only for the few that need them."""
    out = Segments(coords=np.empty(sum(map(len, raws)) // 2 + 1, np.float64))
    bar = progress_bar(total=len(raws), desc="polygons", unit="ann", disable=not progress or len(raws) < 20_000,
               file=sys.stderr, leave=False)  # fmt: skip
    for start in range(0, len(raws), CHUNK):
        part = raws[start : start + CHUNK]
        try:
            _polygons(_POLYGONS.decode(b"[" + b",".join(part) + b"]"), start, boxes[start : start + CHUNK], name,
                      box, out)  # fmt: skip
        except msgspec.ValidationError:
            for k, raw in enumerate(part):
                p = start + k
                try:
                    _polygons(_POLYGONS.decode(b"[" + raw + b"]"), p, boxes[p : p + 1], name, box, out)
                except msgspec.ValidationError:
                    _one(raw, p, images(p), box(p), name(p), out)
        bar.update(len(part))
    bar.close()
    out.finish()
    return out
