"""The checks of ``validate.py`` as array operations over a typed file (``coco_schema.CocoFile``).

Every rule and message is the general path's: each failing entry gets the problem its first failing
check gives there, in the same order (image problems, then annotation problems, by position). Only the
few failing entries are turned back into Python values, to print them.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from .coco_schema import AnnotationEntry, CocoFile, ImageEntry
from .index import DatasetIndex, blob, offsets
from .index_polygons import read_segments
from .problems import ERROR, SKIP, Problem


class NotTypedError(Exception):
    """A value the arrays cannot hold (an integer beyond 64 bits): the general path reads the file."""


def _ints(values: Any, n: int) -> np.ndarray:
    try:
        return np.fromiter(values, np.int64, n)
    except OverflowError:
        raise NotTypedError from None


def _images(imgs: list[ImageEntry], where: str, problems: list[Problem]) -> np.ndarray:
    """Rows of the usable images (first of each id), in file order; problems of the others."""
    n = len(imgs)
    ids, w, h = (_ints((getattr(im, k) for im in imgs), n) for k in ("id", "width", "height"))
    no_name = np.fromiter((not im.file_name for im in imgs), bool, n)
    bad_size = (w <= 0) | (h <= 0)
    ok = ~no_name & ~bad_size
    first = np.zeros(n, bool)
    _, pos = np.unique(ids[ok], return_index=True)
    first[np.flatnonzero(ok)[pos]] = True
    for i in np.flatnonzero(~first):
        im = imgs[i]
        if no_name[i]:
            problems.append(Problem(ERROR, f"{where}: image {im.id}", "has no 'file_name'", "bad-image-entry"))
        elif bad_size[i]:
            problems.append(Problem(ERROR, f"{where}: image {im.id} ({im.file_name})",
                                    "needs positive integer 'width' and 'height'", "bad-image-entry"))  # fmt: skip
        else:
            problems.append(Problem(ERROR, f"{where}: image id {im.id}", "appears twice in 'images'",
                                    "duplicate-image-id"))  # fmt: skip
    return np.flatnonzero(first)


def _ann_name(a: AnnotationEntry, i: int, where: str, img: ImageEntry | None) -> str:
    name = f"{where}: annotation {a.id if a.id is not None else f'[{i}]'}"
    return name if img is None else f"{name} (image {img.id}, {img.file_name})"


def _why(a: AnnotationEntry, i: int, kind: str, where: str, imgs: list[ImageEntry], row: int) -> Problem:
    """The problem of annotation ``i`` whose first failing check is ``kind``."""
    if kind == "duplicate-annotation-id":
        return Problem(SKIP, _ann_name(a, i, where, None), "id appears twice; the later one dropped", kind)
    if kind == "missing-image-entry":
        return Problem(ERROR, _ann_name(a, i, where, None),
                       f"refers to image {a.image_id!r}, which is not in 'images'", kind)  # fmt: skip
    name, bbox = _ann_name(a, i, where, imgs[row]), list(a.bbox)
    if kind == "unknown-category":
        return Problem(SKIP, name, f"category {a.category_id!r} is not in 'categories'; dropped", kind)
    if kind == "degenerate-box":
        area = bbox[2] * bbox[3] if a.area is msgspec.UNSET else a.area
        return Problem(SKIP, name, f"degenerate bbox {bbox} (area {area}); dropped", kind)
    return Problem(SKIP, name, f"bbox {bbox} does not overlap the image; dropped", "box-outside")


def _first_failure(masks: list[tuple[str, np.ndarray]], n: int) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Which entries pass every check (in order), and the first failing check of the others."""
    alive, failed = np.ones(n, bool), []
    for kind, bad in masks:
        hit = alive & bad
        failed += [(int(i), kind) for i in np.flatnonzero(hit)]
        alive &= ~bad
    return alive, failed


def annotation_arrays(f: CocoFile, rows: np.ndarray, cat_ids: np.ndarray) -> dict[str, np.ndarray]:
    anns, n = f.annotations, len(f.annotations)
    img_ids = _ints((f.images[r].id for r in rows), len(rows))
    order = np.argsort(img_ids, kind="stable")
    ann_img = _ints((a.image_id for a in anns), n)
    if len(rows):
        k = np.minimum(np.searchsorted(img_ids[order], ann_img), len(rows) - 1)
        image_row, found = order[k], img_ids[order][k] == ann_img
    else:
        image_row, found = np.zeros(n, np.int64), np.zeros(n, bool)
    has_id = np.fromiter((a.id is not None for a in anns), bool, n)
    ids = _ints((a.id if a.id is not None else 0 for a in anns), n)
    repeat = np.zeros(n, bool)
    _, first = np.unique(ids[has_id], return_index=True)
    repeat[has_id] = True
    repeat[np.flatnonzero(has_id)[first]] = False
    try:
        bbox = np.array([a.bbox for a in anns], np.float64).reshape(n, 4)
        area = np.fromiter((bbox_area if a.area is msgspec.UNSET else a.area for a, bbox_area in zip(anns, bbox[:, 2]
                            * bbox[:, 3])), np.float64, n)  # fmt: skip
    except OverflowError:
        raise NotTypedError from None
    cat = _ints((a.category_id for a in anns), n)
    crowd = np.fromiter((bool(a.iscrowd) for a in anns), bool, n)
    return dict(image_row=image_row, found=found, repeat=repeat, ids=ids, has_id=has_id, bbox=bbox, area=area,
                cat=cat, known=np.isin(cat, cat_ids), crowd=crowd)  # fmt: skip


def _annotations(f: CocoFile, rows: np.ndarray, cat_ids: np.ndarray, where: str,
                 problems: list[tuple[int, Problem]]) -> tuple[np.ndarray, dict[str, np.ndarray], int]:  # fmt: skip
    """Positions of the annotations that pass every check but the segmentation's; problems of the others; the
    number of crowd regions (left out without a problem)."""
    a = annotation_arrays(f, rows, cat_ids)
    imgs = f.images
    img_w = np.fromiter((imgs[r].width for r in rows), np.float64, len(rows))[a["image_row"]] if len(rows) else 0
    img_h = np.fromiter((imgs[r].height for r in rows), np.float64, len(rows))[a["image_row"]] if len(rows) else 0
    x, y, w, h = a["bbox"].T
    inter_w = np.maximum(0.0, np.minimum(x + w, img_w) - np.maximum(x, 0.0))
    inter_h = np.maximum(0.0, np.minimum(y + h, img_h) - np.maximum(y, 0.0))
    checks = [("duplicate-annotation-id", a["repeat"]), ("missing-image-entry", ~a["found"]), ("crowd", a["crowd"]),
              ("unknown-category", ~a["known"]), ("degenerate-box", (w < 1) | (h < 1) | (a["area"] <= 0)),
              ("box-outside", inter_w * inter_h == 0)]  # fmt: skip
    alive, failed = _first_failure(checks, len(f.annotations))
    num_crowd = 0
    for i, kind in failed:
        num_crowd += kind == "crowd"
        if kind != "crowd":  # crowd regions are left out silently, as the reference does
            row = int(rows[a["image_row"][i]]) if a["found"][i] else -1  # no image: the name has none
            problems.append((i, _why(f.annotations[i], i, kind, where, imgs, row)))
    return np.flatnonzero(alive), a, num_crowd


def build_index(
    f: CocoFile, cat_ids: np.ndarray, where: str, need_masks: bool, progress: bool = False
) -> tuple[DatasetIndex, list[Problem], np.ndarray, int]:
    """(index of every usable image in file order, problems in the general path's order, ids of the images
    some annotation refers to, number of crowd regions)."""
    problems: list[Problem] = []
    rows = _images(f.images, where, problems)
    ann_problems: list[tuple[int, Problem]] = []
    kept, a, num_crowd = _annotations(f, rows, cat_ids, where, ann_problems)
    img_of = a["image_row"][kept]  # position among ``rows``
    keep_seg = np.ones(len(kept), bool)
    seg = None
    if need_masks:
        imgs = f.images

        def img(p: int) -> dict[str, Any]:
            im = imgs[rows[img_of[p]]]
            return {"id": im.id, "file_name": im.file_name, "width": im.width, "height": im.height}

        def name(p: int) -> str:
            return _ann_name(f.annotations[kept[p]], int(kept[p]), where, imgs[rows[img_of[p]]])

        def box(p: int) -> list[Any]:
            return list(f.annotations[kept[p]].bbox)

        seg = read_segments([f.annotations[i].segmentation for i in kept], a["bbox"][kept], img, name, box, progress)
        ann_problems += [(int(kept[p]), prob) for p, prob in seg.problems]
        keep_seg = np.concatenate(seg.keep) if seg.keep else keep_seg
    ann_problems.sort(key=lambda t: t[0])
    problems += [p for _, p in ann_problems]
    index = _assemble(f, rows, kept, a, keep_seg, seg, cat_ids)
    referred = np.fromiter((x.image_id for x in f.annotations), np.int64, len(f.annotations))
    return index, problems, referred, num_crowd


def _assemble(f: CocoFile, rows: np.ndarray, kept: np.ndarray, a: dict[str, np.ndarray], keep_seg: np.ndarray,
              seg: Any, cat_ids: np.ndarray) -> DatasetIndex:  # fmt: skip
    img_of = a["image_row"][kept]
    n_poly = np.concatenate(seg.n_polys) if seg is not None and seg.n_polys else np.zeros(len(kept), np.int64)
    final = np.flatnonzero(keep_seg)
    order = final[np.argsort(img_of[final], kind="stable")]  # by image, then file order
    src = kept[order]
    xywh = a["bbox"][src].astype(np.float32)
    poly_len = np.concatenate(seg.poly_len) if seg is not None and seg.poly_len else np.zeros(0, np.int64)
    rle_row = np.full(len(kept), -1, np.int64)
    rles = [seg.rle[p] for p in sorted(seg.rle)] if seg is not None else []
    if rles:
        rle_row[sorted(seg.rle)] = np.arange(len(rles))
    names, name_off = blob([f.images[r].file_name for r in rows])
    return DatasetIndex(
        image_id=_ints((f.images[r].id for r in rows), len(rows)),
        width=np.fromiter((f.images[r].width for r in rows), np.int32, len(rows)),
        height=np.fromiter((f.images[r].height for r in rows), np.int32, len(rows)),
        name_off=name_off, names=names, ann_off=offsets(np.bincount(img_of[order], minlength=len(rows))),
        boxes=np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1),
        labels=np.searchsorted(cat_ids, a["cat"][src]).astype(np.int32),
        ann_ids=np.where(a["has_id"][src], a["ids"][src], -1), seg_start=offsets(n_poly)[:-1][order],
        seg_len=n_poly[order], poly_off=offsets(poly_len), coords=seg.coords if seg is not None else np.zeros(0),
        rle_row=rle_row[order], rle_off=offsets(np.array([len(r) for r in rles], np.int64)),
        rle_blob=np.frombuffer(b"".join(rles), np.uint8).copy(),
    )  # fmt: skip
