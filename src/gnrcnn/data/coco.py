"""COCO-format datasets: an instances JSON plus the image folder its ``file_name``s are relative to.

Reading validates everything it can before training starts; each problem is one line naming the
file, image or annotation (see ``problems.py``). Category ids map to contiguous labels 0..K-1 in
ascending id order; the class count comes from the dataset.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GnrcnnError, read_input_file
from .problems import ERROR, SKIP, Problem
from .records import ImageRecord
from .validate import check_annotation, check_image_entry, check_image_files


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(read_input_file(path, "annotation"))
    except UnicodeDecodeError:
        raise GnrcnnError(f"{path}: not valid JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as e:
        raise GnrcnnError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None


def _require_coco(data: Any, where: str) -> None:
    if not isinstance(data, dict):
        raise GnrcnnError(f"{where}: not a COCO instances file (top level is a {type(data).__name__}, not an object)")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise GnrcnnError(f"{where}: not a COCO instances file (no '{key}' list)")


def _left_out(rec: ImageRecord, empty: bool, keep_empty: bool) -> str:
    """Why training leaves a readable image out ("" when it keeps it)."""
    if min(rec.width, rec.height) < 32:
        return "smaller than 32 px"
    if len(rec.labels) or (keep_empty and empty):
        return ""
    return "no annotation (--keep-empty trains on them)" if empty else "every annotation left out"


class CocoDataset:
    """Records of the usable images; ``problems`` lists everything left out or wrong.

    For training, an image needs a usable annotation, unless ``keep_empty``: then images that no
    annotation refers to at all are kept as negatives. (An image whose annotations were all dropped,
    crowd regions included, is not empty: it holds objects, so it stays out.)
    """

    def __init__(
        self, ann_file: str | Path, data_root: str | Path, train: bool = True, check_files: bool = True,
        keep_empty: bool = False,
    ) -> None:  # fmt: skip
        self.ann_file, self.root, self.train, self.keep_empty = Path(ann_file), Path(data_root), train, keep_empty
        where = str(self.ann_file)
        data = read_json(self.ann_file)
        _require_coco(data, where)
        self.problems: list[Problem] = []
        self.category_ids, self.class_names = self._categories(data["categories"], where)
        self.cat_to_label = {c: i for i, c in enumerate(self.category_ids)}
        images = self._images(data["images"], where)
        per_image = self._annotations(data["annotations"], images, self.cat_to_label, where)
        self.records = self._records(images, per_image)
        if check_files:
            self.records = check_image_files(self.records, self.problems)
        referred = {a.get("image_id") for a in data["annotations"] if isinstance(a, dict)}
        empty = [r.image_id not in referred for r in self.records]
        self.num_empty = sum(empty)  # readable images without any annotation
        self.left_out: Counter[str] = Counter()  # readable images training leaves out, by reason
        if train:
            why = [_left_out(r, e, keep_empty) for r, e in zip(self.records, empty)]
            self.left_out.update(w for w in why if w)
            self.records = [r for r, w in zip(self.records, why) if not w]

    @property
    def num_instances(self) -> int:
        return sum(len(r.labels) for r in self.records)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def skipped(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == SKIP]

    def _categories(self, cats: list[Any], where: str) -> tuple[list[int], list[str]]:
        seen: dict[int, str] = {}
        for c in cats:
            if not isinstance(c, dict) or not isinstance(c.get("id"), int) or isinstance(c.get("id"), bool):
                raise GnrcnnError(f"{where}: category entry without an integer 'id': {str(c)[:80]}")
            if c["id"] in seen:
                raise GnrcnnError(f"{where}: category id {c['id']} appears twice")
            seen[c["id"]] = str(c.get("name", c["id"]))
        if not seen:
            raise GnrcnnError(f"{where}: the 'categories' list is empty")
        ids = sorted(seen)
        return ids, [seen[i] for i in ids]

    def _images(self, entries: list[Any], where: str) -> dict[int, dict[str, Any]]:
        images: dict[int, dict[str, Any]] = {}
        for i, img in enumerate(entries):
            problem = check_image_entry(img, i, where)
            if problem:
                self.problems.append(problem)
                continue
            if img["id"] in images:
                self.problems.append(Problem(ERROR, f"{where}: image id {img['id']}", "appears twice in 'images'",
                                             "duplicate-image-id"))  # fmt: skip
                continue
            images[img["id"]] = img
        return images

    def _annotations(
        self, anns: list[Any], images: dict[int, dict[str, Any]], cat_to_label: dict[int, int], where: str
    ) -> dict[int, list[tuple[dict[str, Any], Any]]]:
        per_image: dict[int, list[tuple[dict[str, Any], Any]]] = defaultdict(list)
        seen_ids: set[int] = set()
        self.num_crowd = 0  # crowd regions: left out of training silently, as the reference does
        for i, ann in enumerate(anns):
            keep, problem = check_annotation(ann, i, images, cat_to_label, seen_ids, where, need_masks=self.train)
            if problem is not None:
                self.problems.append(problem)
            self.num_crowd += keep is None and problem is None
            if keep is not None:
                per_image[ann["image_id"]].append((ann, keep))
        return per_image

    def _records(
        self, images: dict[int, dict[str, Any]], per_image: dict[int, list[tuple[dict[str, Any], Any]]]
    ) -> list[ImageRecord]:
        records = []
        for image_id, img in images.items():
            anns = per_image.get(image_id, [])
            rec = ImageRecord(image_id, img["file_name"], self.root / img["file_name"], img["width"], img["height"])
            if anns:
                boxes = [a["bbox"] for a, _ in anns]
                xywh = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
                rec.boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
                rec.labels = np.asarray([self.cat_to_label[a["category_id"]] for a, _ in anns], dtype=np.int64)
                rec.segms = [segm for _, segm in anns]
                rec.ann_ids = [int(a.get("id", -1)) for a, _ in anns]
            records.append(rec)
        return records

    def raise_if_errors(self, limit: int = 20) -> None:
        """Stop before training with every error (first ``limit`` listed), one line each."""
        errors = self.errors
        if errors:
            lines = [str(p) for p in errors[:limit]]
            more = f"\n... and {len(errors) - limit} more" if len(errors) > limit else ""
            hint = ""
            if any(p.kind == "missing-file" for p in errors):
                hint = f"\n(file names are read relative to --data-root {self.root})"
            raise GnrcnnError(f"{self.ann_file}: {len(errors)} problem(s) in the dataset:\n" + "\n".join(lines)
                              + more + hint)  # fmt: skip
        if self.train and not self.records:
            empty = f"; {self.num_empty} image(s) without annotations (--keep-empty trains on them as negatives)"
            raise GnrcnnError(
                f"{self.ann_file}: no usable training image (each needs at least one valid, non-crowd "
                f"annotation and both sides >= 32 px){empty if self.num_empty else ''}"
            )
        if self.train and not self.num_instances:
            raise GnrcnnError(f"{self.ann_file}: {len(self.records)} training images but no annotated instance: "
                              "negatives alone teach the model nothing")  # fmt: skip
