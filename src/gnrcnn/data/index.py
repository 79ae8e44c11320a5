"""A dataset's usable images and annotations as a dozen flat numpy arrays, not one Python object each.

Why arrays: a dataloader worker is a fork of the trainer; touching a Python object writes its
reference count, so the page holding it is copied into the worker (copy-on-read), and a list of
118k records with their polygons ends up copied into every worker. A numpy array is one object whose
data is never written: workers share its pages. ``save``/``load`` put the arrays in ``.npy`` files
that other ranks on the machine map read-only (``mmap_mode="r"``), so they share one copy too.

Layout (CSR: ``x_off[i]:x_off[i + 1]`` are the rows of item ``i``): images ``image_id``, ``width``,
``height``, file names as one UTF-8 blob; annotations per image ``ann_off``: ``boxes`` (xyxy float32),
``labels``, ``ann_ids``, polygons ``seg_start:seg_start + seg_len`` of the polygon rows; coordinates
per polygon ``poly_off`` into ``coords`` (float64: the JSON's values exactly). Polygons stay in the
file's order (annotations are grouped by image through ``seg_start``), so leaving images out never
copies the coordinates, by far the largest array. An annotation with an RLE (rare) has its JSON at
``rle_row`` of ``rle_off``/``rle_blob`` (-1: polygons).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, overload

import numpy as np

from .records import ImageRecord


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + c)`` for every (s, c), without a Python loop."""
    counts = np.asarray(counts, np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(counts)
    shift = np.repeat(np.asarray(starts, np.int64) - (ends - counts), counts)
    return np.arange(total, dtype=np.int64) + shift


def offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def blob(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strings as one UTF-8 byte array and their offsets."""
    encoded = [s.encode() for s in strings]
    return np.frombuffer(b"".join(encoded), np.uint8).copy(), offsets(np.fromiter(map(len, encoded), np.int64,
                                                                                  len(encoded)))  # fmt: skip


@dataclass
class DatasetIndex:
    image_id: np.ndarray
    width: np.ndarray
    height: np.ndarray
    name_off: np.ndarray
    names: np.ndarray
    ann_off: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    ann_ids: np.ndarray
    seg_start: np.ndarray
    seg_len: np.ndarray
    poly_off: np.ndarray
    coords: np.ndarray
    rle_row: np.ndarray
    rle_off: np.ndarray
    rle_blob: np.ndarray

    def __len__(self) -> int:
        return len(self.image_id)

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, f.name).nbytes for f in fields(self))

    def file_name(self, i: int) -> str:
        return bytes(self.names[self.name_off[i] : self.name_off[i + 1]]).decode()

    def num_instances(self, i: int) -> int:
        return int(self.ann_off[i + 1] - self.ann_off[i])

    def _segm(self, a: int) -> Any:
        k = int(self.rle_row[a])
        if k >= 0:
            return json.loads(bytes(self.rle_blob[self.rle_off[k] : self.rle_off[k + 1]]))
        p0 = int(self.seg_start[a])
        return [self.coords[self.poly_off[p] : self.poly_off[p + 1]].tolist() for p in range(p0, p0 + self.seg_len[a])]

    def record(self, i: int, root: Path, segms: bool = True) -> ImageRecord:
        """Image ``i`` as the record the loaders take (its polygons as lists of floats, as the JSON had them)."""
        name = self.file_name(i)
        rec = ImageRecord(int(self.image_id[i]), name, root / name, int(self.width[i]), int(self.height[i]))
        a0, a1 = int(self.ann_off[i]), int(self.ann_off[i + 1])
        if a1 > a0:
            rec.boxes = np.array(self.boxes[a0:a1], np.float32)
            rec.labels = self.labels[a0:a1].astype(np.int64)
            rec.ann_ids = self.ann_ids[a0:a1].tolist()
            if segms:
                rec.segms = [self._segm(a) for a in range(a0, a1)]
        return rec

    def take(self, rows: np.ndarray) -> DatasetIndex:
        """The images ``rows`` with their annotations; polygons, coordinates and RLEs are shared, not copied."""
        rows = np.asarray(rows, np.int64)
        n_names = self.name_off[rows + 1] - self.name_off[rows]
        n_anns = self.ann_off[rows + 1] - self.ann_off[rows]
        a = ranges(self.ann_off[rows], n_anns)
        return dataclasses.replace(
            self, image_id=self.image_id[rows], width=self.width[rows], height=self.height[rows],
            name_off=offsets(n_names), names=self.names[ranges(self.name_off[rows], n_names)], ann_off=offsets(n_anns),
            boxes=self.boxes[a], labels=self.labels[a], ann_ids=self.ann_ids[a], seg_start=self.seg_start[a],
            seg_len=self.seg_len[a], rle_row=self.rle_row[a],
        )  # fmt: skip

    def save(self, folder: Path) -> None:
        """One ``.npy`` per array, written to a temporary folder renamed into place (a reader sees all or none)."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        for f in fields(self):
            np.save(tmp / f"{f.name}.npy", getattr(self, f.name))
        try:
            os.rename(tmp, folder)
        except OSError:  # another process put the same index there first
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> DatasetIndex:
        """The arrays mapped read-only from ``folder``: every process that loads them shares one copy."""
        return cls(**{f.name: np.load(folder / f"{f.name}.npy", mmap_mode="r") for f in fields(cls)})


class RecordView(Sequence[ImageRecord]):
    """``dataset.records``: a read-only list of ``ImageRecord``s made on access from a ``DatasetIndex``."""

    def __init__(self, index: DatasetIndex, root: Path, segms: bool = True) -> None:
        self.index, self.root, self.segms = index, root, segms

    def __len__(self) -> int:
        return len(self.index)

    @overload
    def __getitem__(self, i: int) -> ImageRecord: ...
    @overload
    def __getitem__(self, i: slice) -> list[ImageRecord]: ...
    def __getitem__(self, i: int | slice) -> ImageRecord | list[ImageRecord]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.index.record(i, self.root, self.segms)

    def __iter__(self) -> Iterator[ImageRecord]:
        return (self[i] for i in range(len(self)))
