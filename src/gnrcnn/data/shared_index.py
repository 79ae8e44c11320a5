"""One dataset index per machine: the first rank of each machine reads and checks the COCO file, the
others map its arrays from a folder in the machine's temporary directory (``DatasetIndex.load``).

The folder is named by the annotation file (path, size, modification time), the data root and the
reading options, so a changed file is read again; it holds the arrays as ``.npy`` files and
``meta.json`` (classes, problems, counts). Mapped read-only, the arrays live once in the page cache
whatever the number of ranks and dataloader workers.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ..fileio import atomic_open
from .coco import CocoDataset
from .index import DatasetIndex, RecordView
from .problems import Problem

VERSION = 2  # of the folder's layout (2: meta.json holds num_crowd and left_out)


def cache_folder(ann: str | Path, root: str | Path, train: bool, keep_empty: bool) -> Path:
    ann = Path(ann).resolve()
    st = ann.stat()
    key = json.dumps([VERSION, str(ann), st.st_size, st.st_mtime_ns, str(Path(root).resolve()), train, keep_empty])
    base = Path(os.environ.get("GNRCNN_INDEX_DIR") or Path(tempfile.gettempdir()) / "gnrcnn-index")
    return base / hashlib.sha256(key.encode()).hexdigest()[:24]


def save(ds: CocoDataset, folder: Path) -> None:
    """The arrays first, then ``meta.json``: a folder with ``meta.json`` is complete."""
    if not (folder / "meta.json").exists():
        ds.index.save(folder)
        meta = {"category_ids": ds.category_ids, "class_names": ds.class_names, "num_empty": ds.num_empty,
                "num_crowd": ds.num_crowd, "left_out": dict(ds.left_out),
                "problems": [[p.severity, p.where, p.message, p.kind] for p in ds.problems]}  # fmt: skip
        # unique: the first ranks of two machines that share a temporary folder may write it at once
        with atomic_open(folder / "meta.json", "dataset index", unique=True) as f:
            f.write(json.dumps(meta).encode())


def load(folder: Path, ann: str | Path, root: str | Path, train: bool, keep_empty: bool) -> CocoDataset:
    """A ``CocoDataset`` whose arrays are mapped from ``folder`` (written by ``save``)."""
    meta = json.loads((folder / "meta.json").read_text())
    ds = CocoDataset.__new__(CocoDataset)
    ds.ann_file, ds.root, ds.train, ds.keep_empty = Path(ann), Path(root), train, keep_empty
    ds.category_ids, ds.class_names, ds.num_empty = meta["category_ids"], meta["class_names"], meta["num_empty"]
    ds.num_crowd, ds.left_out = meta["num_crowd"], Counter(meta["left_out"])
    ds.cat_to_label = {c: i for i, c in enumerate(ds.category_ids)}
    ds.problems = [Problem(*p) for p in meta["problems"]]
    ds.index = DatasetIndex.load(folder)
    ds.records = RecordView(ds.index, ds.root, segms=train)
    return ds


def read_shared(
    ann: str | Path, root: str | Path, *, train: bool, keep_empty: bool, first_on_machine: bool,
    barrier: Callable[[], None], progress: bool = False,
) -> CocoDataset:  # fmt: skip
    """Every rank calls this (``barrier`` is collective): the machine's first rank reads and saves the
    index (problems included: every rank then stops on the same errors), then all map it. A rank that
    finds no saved index after the barrier (ranks of one machine that see different temporary
    directories) reads the file itself."""
    folder = cache_folder(ann, root, train, keep_empty)
    if first_on_machine and not (folder / "meta.json").exists():
        save(CocoDataset(ann, root, train=train, keep_empty=keep_empty, progress=progress), folder)
    barrier()
    if (folder / "meta.json").exists():
        return load(folder, ann, root, train, keep_empty)
    return CocoDataset(ann, root, train=train, keep_empty=keep_empty, progress=progress)
