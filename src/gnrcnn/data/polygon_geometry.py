"""The general path's polygon geometry (``validate.collinear``, ``validate._extent_iou``) as array operations
over flat coordinates: the same float operations in the same order, so both paths judge every polygon alike.

Why not the shoelace area: a symmetric bow tie's signed area is 0, yet it is a real shape (two triangles);
"all points on one line" is what makes a polygon cover nothing.
"""

from __future__ import annotations

import numpy as np

from .index import offsets, ranges


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
    start = offsets(plen // 2)[:-1]
    x, y = coords[0::2], coords[1::2]
    first = offsets(n_polys)[:-1][has]  # its first polygon
    px0 = np.minimum.reduceat(np.minimum.reduceat(x, start), first)
    py0 = np.minimum.reduceat(np.minimum.reduceat(y, start), first)
    px1 = np.maximum.reduceat(np.maximum.reduceat(x, start), first)
    py1 = np.maximum.reduceat(np.maximum.reduceat(y, start), first)
    bx, by, bw, bh = boxes[has].T
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        iw = np.maximum(0.0, np.minimum(px1, bx + bw) - np.maximum(px0, bx))
        ih = np.maximum(0.0, np.minimum(py1, by + bh) - np.maximum(py0, by))
        union = (px1 - px0) * (py1 - py0) + bw * bh - iw * ih
        iou[has] = np.where(union > 0, iw * ih / np.where(union > 0, union, 1.0), 0.0)
    return iou
