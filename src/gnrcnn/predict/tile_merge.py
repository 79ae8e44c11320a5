"""One set of detections for a whole image from those of its overlapping tiles. Pure tensor functions.

Shapes: n detections of all tiles together: boxes (n, 4) xyxy in full-image pixels, scores (n,),
labels (n,), tiles (n,) the index of the tile each came from; rects (T, 4) each tile's xyxy
rectangle in the image; out: m merged detections, target (n,) in -1..m-1.

The rule (docs/inference.md has the why and the measurements):

1. A detection is *cut* when its box reaches a tile border that lies inside the image.
2. Two detections of one class from two overlapping tiles are the *same object* when their boxes,
   clipped to the region both tiles see, overlap with IoU >= ``match_iou``. Each tile sees that
   shared region whole, so the parts of one object there coincide, whether a tile saw the object
   whole or cut: this pairs a fragment with the whole object, where plain IoU would not.
3. A cut detection that is the same object as a whole one is dropped: the tile that saw the object
   whole predicted its box, class and mask from all of it, at the same scale as every other object.
4. NMS across tiles: of two whole detections of one class from two tiles with IoU >= ``nms_iou``
   (an object seen whole by both), the lower-scoring one is dropped. Within a tile the model's own
   NMS has run already, so only detections near a shared region are ever compared.
5. Cut detections left over belong to objects no tile saw whole (larger than the overlap): their
   same-object pairs are joined into groups, and each group becomes one detection, the union of
   its boxes and masks with the best score.
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

import torch

from ..modeling.box_ops import box_area, grouped_nms, paired_iou

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


def _tile_pairs(rects: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, b), a < b: the tiles that overlap."""
    a, b = torch.triu_indices(len(rects), len(rects), 1, device=rects.device)
    keep = box_area(_intersect(rects[a].float(), rects[b].float())) > 0
    return a[keep], b[keep]


def _reaching(boxes: torch.Tensor, tiles: torch.Tensor, rects: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """(i, pair, side) for each detection i whose box reaches into the other tile of an overlapping
    tile pair its tile belongs to (side 0: its tile is the pair's first). Only these can match."""
    a, b = _tile_pairs(rects)
    pair_ids = torch.arange(len(a), device=a.device)
    tile, other = torch.cat([a, b]), torch.cat([b, a])
    pair, side = torch.cat([pair_ids, pair_ids]), torch.cat([torch.zeros_like(a), torch.ones_like(b)])
    order = torch.argsort(tile, stable=True)
    other, pair, side = other[order], pair[order], side[order]
    degree = torch.bincount(tile, minlength=len(rects))
    first = torch.cumsum(degree, 0) - degree
    per_det = degree[tiles]
    det = torch.repeat_interleave(torch.arange(len(boxes), device=boxes.device), per_det)
    edge = first[tiles[det]] + torch.arange(len(det), device=det.device) - (torch.cumsum(per_det, 0) - per_det)[det]
    reach = box_area(_intersect(boxes[det], rects[other[edge]].to(boxes.dtype))) > 0
    return det[reach], pair[edge[reach]], side[edge[reach]]


def _pair_chunks(boxes: torch.Tensor, tiles: torch.Tensor, rects: torch.Tensor, budget: int
                 ) -> list[tuple[torch.Tensor, torch.Tensor]]:  # fmt: skip
    """Every (i, j) of detections reaching into each other's tile from the two tiles of an
    overlapping pair, in chunks of about ``budget`` pairs (whole tile pairs: at least one)."""
    det, pair, side = _reaching(boxes, tiles, rects)
    left, right = det[side == 0], det[side == 1]
    lkey, rkey = pair[side == 0], pair[side == 1]
    left, right = left[torch.argsort(lkey, stable=True)], right[torch.argsort(rkey, stable=True)]
    n_pairs = int(pair.max()) + 1 if len(pair) else 0
    nl, nr = torch.bincount(lkey, minlength=n_pairs), torch.bincount(rkey, minlength=n_pairs)
    sl, sr = torch.cumsum(nl, 0) - nl, torch.cumsum(nr, 0) - nr
    keys = torch.nonzero(nl * nr).squeeze(1)
    sizes = (nl * nr)[keys]
    cum = torch.cumsum(sizes, 0).tolist()
    chunks, lo = [], 0
    while lo < len(cum):
        hi = max(lo + 1, bisect.bisect_right(cum, (cum[lo - 1] if lo else 0) + budget, lo))
        k, ps = keys[lo:hi], sizes[lo:hi]
        pid = torch.repeat_interleave(torch.arange(len(ps), device=ps.device), ps)
        off = torch.arange(len(pid), device=ps.device) - (torch.cumsum(ps, 0) - ps)[pid]
        width = nr[k][pid]
        chunks.append((left[sl[k][pid] + off // width], right[sr[k][pid] + off % width]))
        lo = hi
    return chunks


def same_object_pairs(
    boxes: torch.Tensor, labels: torch.Tensor, tiles: torch.Tensor, rects: torch.Tensor, min_iou: float,
    budget: int = PAIR_BUDGET,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """(i, j, iou): detections of one class from two overlapping tiles whose boxes, clipped to the
    region both tiles see, have IoU >= ``min_iou``."""
    found: list[tuple[torch.Tensor, ...]] = [(boxes.new_zeros(0, dtype=torch.int64),) * 2 + (boxes.new_zeros(0),)]
    for i, j in _pair_chunks(boxes, tiles, rects, budget):
        same = labels[i] == labels[j]
        i, j = i[same], j[same]
        window = _intersect(rects[tiles[i]].to(boxes.dtype), rects[tiles[j]].to(boxes.dtype))
        bi, bj = _intersect(boxes[i], window), _intersect(boxes[j], window)
        iou = paired_iou(bi, bj)
        match = iou >= min_iou
        found.append((i[match], j[match], iou[match]))
    return tuple(torch.cat(parts) for parts in zip(*found))  # type: ignore[return-value]


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
    """The rule of this module's docstring; ``border_rule=False``: plain class-wise NMS over all
    detections instead, every one taken for whole (for comparison)."""
    n, device = len(boxes), boxes.device
    if not border_rule:
        keep = grouped_nms(boxes, scores, labels, nms_iou)
        target = torch.full((n,), -1, dtype=torch.int64, device=device)
        target[keep] = torch.arange(len(keep), device=device)
        return TileMerge(boxes[keep], scores[keep], labels[keep], target)
    cut = cut_by_border(boxes, rects[tiles], image_shape, margin)
    i, j, iou = same_object_pairs(boxes, labels, tiles, rects, min(nms_iou, match_iou))
    dropped = torch.zeros(n, dtype=torch.bool, device=device)
    fragment = (iou >= match_iou) & (cut[i] != cut[j])  # rule 3: the cut one of a (cut, whole) pair
    dropped[torch.where(cut[i], i, j)[fragment]] = True
    # rule 4 (boxes whole in two tiles lie in the shared region, where the clipped IoU is the plain one;
    # both must pass, so that two objects that differ outside the shared region are never taken for one)
    twice = (iou >= nms_iou) & (paired_iou(boxes[i], boxes[j]) >= nms_iou) & ~cut[i] & ~cut[j]
    j_wins = (scores[j] > scores[i]) | ((scores[j] == scores[i]) & (j < i))  # ties: the earlier index stays
    dropped[torch.where(j_wins, i, j)[twice]] = True
    whole = torch.nonzero(~cut & ~dropped).squeeze(1)
    rest = cut & ~dropped
    both = rest[i] & rest[j] & (iou >= match_iou)
    group = components(n, i[both], j[both])  # rule 5
    roots, member = torch.unique(group[rest], return_inverse=True)
    m_whole, m = len(whole), len(whole) + len(roots)
    target = torch.full((n,), -1, dtype=torch.int64, device=device)
    target[whole] = torch.arange(m_whole, device=device)
    target[rest] = m_whole + member
    src = torch.nonzero(rest).squeeze(1)
    idx = target[src]
    out_boxes = torch.cat([boxes[whole], boxes[roots]])
    out_boxes[:, :2] = out_boxes[:, :2].scatter_reduce(0, idx[:, None].expand(-1, 2), boxes[src, :2], "amin")
    out_boxes[:, 2:] = out_boxes[:, 2:].scatter_reduce(0, idx[:, None].expand(-1, 2), boxes[src, 2:], "amax")
    out_scores = torch.cat([scores[whole], scores[roots]]).scatter_reduce(0, idx, scores[src], "amax")
    order = torch.argsort(out_scores, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(m, device=device)
    target = torch.where(target >= 0, rank[target.clamp(min=0)], target)
    return TileMerge(out_boxes[order], out_scores[order], torch.cat([labels[whole], labels[roots]])[order], target)
