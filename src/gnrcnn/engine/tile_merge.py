"""One set of detections for a whole image from those of its overlapping tiles. Pure tensor functions.

Shapes: n detections of all tiles together: boxes (n, 4) xyxy in full-image pixels, scores (n,),
labels (n,), tiles (n,) the index of the tile each came from; rects (T, 4) each tile's xyxy
rectangle in the image; out: m merged detections, target (n,) in -1..m-1.

The rule (docs/inference.md has the why and the measurements):

1. A detection is *cut* when its box reaches a tile border that lies inside the image.
2. Two detections of one class from different tiles are the *same object* when their boxes,
   clipped to the region both tiles see, overlap with IoU >= ``match_iou``. Each tile sees that
   shared region whole, so the parts of one object there coincide, whether a tile saw the object
   whole or cut: this also pairs a fragment with the whole object, where plain IoU would not.
3. A cut detection that is the same object as a whole one is dropped: the tile that saw the object
   whole predicted its box, class and mask from all of it, at the same scale as every other object.
4. Whole detections go through class-wise NMS across tiles (an object seen whole by two tiles).
5. Cut detections left over belong to objects no tile saw whole (larger than the overlap): their
   same-object pairs are joined into groups, and each group becomes one detection, the union of
   its boxes and masks with the best score.
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

import torch

from ..modeling.box_ops import grouped_nms

PAIR_BUDGET = 1 << 22  # candidate pairs handled at once (a few 100 MB of temporaries at most)


class TileMerge(NamedTuple):
    """The merged detections, by decreasing score, and which of them each tile detection's mask
    joins (-1: dropped)."""

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor
    target: torch.Tensor


def cut_by_border(boxes: torch.Tensor, rects: torch.Tensor, image_shape: tuple[int, int], margin: float
                  ) -> torch.Tensor:  # fmt: skip
    """(n,) True where a box comes within ``margin`` px of an edge of its tile (``rects`` (n, 4), one
    per box) that is not an edge of the image."""
    h, w = image_shape
    x0, y0, x1, y1 = boxes.unbind(1)
    rx0, ry0, rx1, ry1 = rects.to(boxes.dtype).unbind(1)
    return (((x0 <= rx0 + margin) & (rx0 > 0)) | ((x1 >= rx1 - margin) & (rx1 < w))
            | ((y0 <= ry0 + margin) & (ry0 > 0)) | ((y1 >= ry1 - margin) & (ry1 < h)))  # fmt: skip


def _intersect(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.cat([torch.maximum(a[..., :2], b[..., :2]), torch.minimum(a[..., 2:], b[..., 2:])], -1)


def _area(b: torch.Tensor) -> torch.Tensor:
    return (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)


def _tile_pair_chunks(tiles: torch.Tensor, rects: torch.Tensor, budget: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Every (i, j) of detections in two different, overlapping tiles, in chunks of about ``budget``
    pairs (a chunk holds whole tile pairs: at least one)."""
    t = len(rects)
    a, b = torch.triu_indices(t, t, 1, device=rects.device)
    counts = torch.bincount(tiles, minlength=t)
    sizes = counts[a] * counts[b]
    keep = (sizes > 0) & (_area(_intersect(rects[a].float(), rects[b].float())) > 0)
    a, b, sizes = a[keep], b[keep], sizes[keep]
    order = torch.argsort(tiles, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    cum = torch.cumsum(sizes, 0).tolist()
    chunks, lo = [], 0
    while lo < len(cum):
        hi = max(lo + 1, bisect.bisect_right(cum, (cum[lo - 1] if lo else 0) + budget, lo))
        pa, pb, ps = a[lo:hi], b[lo:hi], sizes[lo:hi]
        pid = torch.repeat_interleave(torch.arange(len(ps), device=ps.device), ps)
        k = torch.arange(len(pid), device=ps.device) - (torch.cumsum(ps, 0) - ps)[pid]
        nb = counts[pb][pid]
        chunks.append((order[starts[pa][pid] + k // nb], order[starts[pb][pid] + k % nb]))
        lo = hi
    return chunks


def same_object_pairs(
    boxes: torch.Tensor, labels: torch.Tensor, tiles: torch.Tensor, rects: torch.Tensor, match_iou: float,
    budget: int = PAIR_BUDGET,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """(i, j): detections of one class from different tiles whose boxes, clipped to the region both
    tiles see, have IoU >= ``match_iou``."""
    none = torch.empty(0, dtype=torch.int64, device=boxes.device)
    out_i, out_j = [none], [none]
    for i, j in _tile_pair_chunks(tiles, rects, budget):
        same = labels[i] == labels[j]
        i, j = i[same], j[same]
        window = _intersect(rects[tiles[i]].to(boxes.dtype), rects[tiles[j]].to(boxes.dtype))
        bi, bj = _intersect(boxes[i], window), _intersect(boxes[j], window)
        inter = _area(_intersect(bi, bj))
        union = (_area(bi) + _area(bj) - inter).clamp(min=1e-6)
        match = inter / union >= match_iou
        out_i.append(i[match])
        out_j.append(j[match])
    return torch.cat(out_i), torch.cat(out_j)


def components(n: int, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """(n,) group of each node of the graph with edges (i, j): the smallest index in its group."""
    group = torch.arange(n, device=i.device)
    while True:  # min-label propagation with pointer jumping: a few rounds for tile-sized chains
        new = group.clone()
        new.scatter_reduce_(0, i, group[j], "amin")
        new.scatter_reduce_(0, j, group[i], "amin")
        new = new[new]
        if torch.equal(new, group):
            return group
        group = new


def merge_tiles(
    boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, tiles: torch.Tensor, rects: torch.Tensor,
    image_shape: tuple[int, int], *, nms_iou: float = 0.5, match_iou: float = 0.5, margin: float = 2.0,
    border_rule: bool = True,
) -> TileMerge:  # fmt: skip
    """The rule of this module's docstring; ``border_rule=False``: step 4 alone, every detection
    taken for whole (class-wise NMS across tiles, for comparison)."""
    n = len(boxes)
    cut = cut_by_border(boxes, rects[tiles], image_shape, margin)
    i, j = same_object_pairs(boxes, labels, tiles, rects, match_iou)
    if not border_rule:
        cut, i, j = torch.zeros_like(cut), i[:0], j[:0]
    covered = torch.zeros(n, dtype=torch.bool, device=boxes.device)
    covered[i[cut[i] & ~cut[j]]] = True
    covered[j[cut[j] & ~cut[i]]] = True
    whole = torch.nonzero(~cut).squeeze(1)
    whole = whole[grouped_nms(boxes[whole], scores[whole], labels[whole], nms_iou)]
    rest = cut & ~covered
    both = rest[i] & rest[j]
    group = components(n, i[both], j[both])
    roots, member = torch.unique(group[rest], return_inverse=True)
    m_whole, m = len(whole), len(whole) + len(roots)
    target = torch.full((n,), -1, dtype=torch.int64, device=boxes.device)
    target[whole] = torch.arange(m_whole, device=boxes.device)
    target[rest] = m_whole + member
    out_boxes = torch.cat([boxes[whole], boxes[roots]])
    out_scores = torch.cat([scores[whole], scores[roots]])
    src = torch.nonzero(rest).squeeze(1)
    idx = target[src]
    out_boxes[:, :2] = out_boxes[:, :2].scatter_reduce(0, idx[:, None].expand(-1, 2), boxes[src, :2], "amin")
    out_boxes[:, 2:] = out_boxes[:, 2:].scatter_reduce(0, idx[:, None].expand(-1, 2), boxes[src, 2:], "amax")
    out_scores = out_scores.scatter_reduce(0, idx, scores[src], "amax")
    order = torch.argsort(out_scores, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(m, device=boxes.device)
    target = torch.where(target >= 0, rank[target.clamp(min=0)], target)
    out_labels = torch.cat([labels[whole], labels[roots]])
    return TileMerge(out_boxes[order], out_scores[order], out_labels[order], target)
