"""COCO-format datasets: an instances JSON plus the image folder its ``file_name``s are relative to.

Reading validates everything it can before training starts; each problem is one line naming the
file, image or annotation (see ``problems.py``). Category ids map to contiguous labels 0..K-1 in
ascending id order; the class count comes from the dataset. A well-formed file is read by msgspec
into typed structs and checked with array operations (``coco_schema.py``, ``index_build.py``); any
other file by ``json`` and the per-entry checks of ``validate.py`` (``coco_legacy.py``), with the same
rules and messages. The usable records end up in a ``DatasetIndex`` of flat arrays (``index.py``).
"""

from __future__ import annotations

import gc
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GnrcnnError, read_input_file
from .coco_legacy import build_index_general
from .coco_schema import decode_fast
from .index import DatasetIndex, RecordView
from .index_build import NotTypedError, build_index
from .problems import ERROR, SKIP, Problem
from .validate import usable_files


def parse_json(data: bytes, path: Path) -> Any:
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise GnrcnnError(f"{path}: not valid JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as e:
        raise GnrcnnError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None


def read_json(path: str | Path) -> Any:
    return parse_json(read_input_file(path, "annotation"), Path(path))


def _require_coco(data: Any, where: str) -> None:
    if not isinstance(data, dict):
        raise GnrcnnError(f"{where}: not a COCO instances file (top level is a {type(data).__name__}, not an object)")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise GnrcnnError(f"{where}: not a COCO instances file (no '{key}' list)")


def categories(cats: list[Any], where: str) -> tuple[list[int], list[str]]:
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


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Reading makes millions of short-lived lists; the cyclic collector would walk all live ones again and
    again (a third of the time on train2017's size) and they form no cycles."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def read_index(
    path: Path, need_masks: bool, progress: bool = False
) -> tuple[list[int], list[str], DatasetIndex, list[Problem], np.ndarray, int]:
    """(category ids, class names, index of the usable images, problems, ids of the images annotations refer to,
    number of crowd regions)."""
    with _no_cyclic_gc():
        return _read_index(path, need_masks, progress)


def _read_index(
    path: Path, need_masks: bool, progress: bool
) -> tuple[list[int], list[str], DatasetIndex, list[Problem], np.ndarray, int]:
    where, raw = str(path), read_input_file(path, "annotation")
    typed = decode_fast(raw)
    if typed is not None:
        cat_ids, names = categories(typed.categories, where)
        try:
            return cat_ids, names, *build_index(typed, np.array(cat_ids, np.int64), where, need_masks, progress)
        except NotTypedError:
            pass
    del typed
    data = parse_json(raw, path)
    del raw
    _require_coco(data, where)
    cat_ids, names = categories(data["categories"], where)
    cat_to_label = {c: i for i, c in enumerate(cat_ids)}
    return cat_ids, names, *build_index_general(data, cat_to_label, where, need_masks)


class CocoDataset:
    """Records of the usable images; ``problems`` lists everything left out or wrong.

    For training, an image needs a usable annotation, unless ``keep_empty``: then images that no
    annotation refers to at all are kept as negatives. (An image whose annotations were all dropped,
    crowd regions included, is not empty: it holds objects, so it stays out.) ``records`` is a
    read-only sequence of ``ImageRecord``s made on access from ``index``.
    """

    def __init__(
        self, ann_file: str | Path, data_root: str | Path, train: bool = True, check_files: bool = True,
        keep_empty: bool = False, progress: bool = False,
    ) -> None:  # fmt: skip
        self.ann_file, self.root, self.train, self.keep_empty = Path(ann_file), Path(data_root), train, keep_empty
        self.category_ids, self.class_names, index, self.problems, referred, self.num_crowd = read_index(
            self.ann_file, train, progress
        )  # num_crowd: crowd regions, left out of training without a problem line (as the reference does)
        self.cat_to_label = {c: i for i, c in enumerate(self.category_ids)}
        keep = np.ones(len(index), bool)
        if check_files:
            keep = usable_files(RecordView(index, self.root, segms=False), self.problems, progress)
        empty = ~np.isin(index.image_id, referred)
        self.num_empty = int((empty & keep).sum())  # readable images without any annotation
        self.left_out: Counter[str] = Counter()  # readable images training leaves out, by reason
        if train:
            n_inst = np.diff(index.ann_off)
            small = np.minimum(index.width, index.height) < 32
            unused = (n_inst == 0) & ~(keep_empty & empty)
            for why, mask in (
                ("smaller than 32 px", small),
                ("no annotation (--keep-empty trains on them)", ~small & unused & empty),
                ("every annotation left out", ~small & unused & ~empty),
            ):
                if n := int((mask & keep).sum()):
                    self.left_out[why] = n
            keep &= ~small & ~unused
        self.index = index.take(np.flatnonzero(keep)) if not keep.all() else index
        self.records = RecordView(self.index, self.root, segms=train)

    @property
    def num_instances(self) -> int:
        return int(self.index.ann_off[-1])

    def __len__(self) -> int:
        return len(self.index)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def skipped(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == SKIP]

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
        if self.train and not len(self):
            empty = f"; {self.num_empty} image(s) without annotations (--keep-empty trains on them as negatives)"
            raise GnrcnnError(
                f"{self.ann_file}: no usable training image (each needs at least one valid, non-crowd "
                f"annotation and both sides >= 32 px){empty if self.num_empty else ''}"
            )
        if self.train and not self.num_instances:
            raise GnrcnnError(f"{self.ann_file}: {len(self)} training images but no annotated instance: "
                              "negatives alone teach the model nothing")  # fmt: skip
