"""Dataloader workers share the dataset index: none copies it as it reads samples (copy-on-read).

A worker is a fork of the trainer. Records held as Python objects get copied into each worker page by
page as it touches them (reading an object writes its reference count); the index's numpy arrays are
never written, so their pages stay shared. The test reads 2,000 samples through 4 workers from a file
whose polygons would take ~12 MB per worker to copy, and checks each worker's private memory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gnrcnn.config.schema import InputConfig
from gnrcnn.data.coco import CocoDataset
from gnrcnn.data.train_data import TrainDataset

SAMPLES, WORKERS = 2000, 4


def _write(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for k in range(4):
        cv2.imwrite(str(root / f"{k}.png"), rng.integers(0, 255, (40, 48, 3), np.uint8))
    images = [{"id": i, "file_name": f"{i % 4}.png", "width": 48, "height": 40} for i in range(1, SAMPLES + 1)]
    anns = []
    for im in images:
        for _ in range(10):
            t = np.sort(rng.uniform(0, 2 * np.pi, 40))
            poly = np.round(np.stack([24 + 15 * np.cos(t), 20 + 15 * np.sin(t)], 1).ravel(), 2).tolist()
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": 1, "bbox": [9, 5, 30, 30],
                         "area": 700.0, "iscrowd": 0, "segmentation": [poly]})  # fmt: skip
    ann = root / "ann.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "blob"}]}))
    return ann


def _memory_kb() -> tuple[int, int]:
    """(private, resident) kB of this process: private pages are the ones a fork has copied or made."""
    fields = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                fields[parts[0].rstrip(":")] = int(parts[1])
    return fields["Private_Clean"] + fields["Private_Dirty"], fields["Rss"]


class _Probe(torch.utils.data.Dataset):
    def __init__(self, inner: TrainDataset) -> None:
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i: int) -> tuple[int, int, int, int]:
        sample = self.inner[(i, bool(i % 2), 32, 0)]
        # every 25th sample of each worker (reading smaps costs milliseconds)
        return (os.getpid(), *(_memory_kb() if (i // WORKERS) % 25 == 0 else (-1, -1)), len(sample.labels))


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="reads Linux's /proc")
@pytest.mark.filterwarnings("ignore:This DataLoader will create")
def test_workers_do_not_copy_the_index(tmp_path: Path) -> None:
    ds = CocoDataset(_write(tmp_path), tmp_path)
    assert len(ds) == SAMPLES and ds.num_instances == 10 * SAMPLES
    probe = _Probe(TrainDataset(ds, InputConfig(short=32, long=48)))
    loader = torch.utils.data.DataLoader(probe, batch_size=None, num_workers=WORKERS, sampler=range(SAMPLES),
                                         multiprocessing_context="fork", timeout=60)  # fmt: skip
    seen: dict[int, list[tuple[int, int]]] = {}
    count = 0
    for pid, private, rss, n in loader:
        assert n == 10
        count += 1
        if private >= 0:
            seen.setdefault(int(pid), []).append((int(private), int(rss)))
    assert len(seen) == WORKERS and count == SAMPLES
    for pid, mem in seen.items():
        # after 50 samples the worker's own buffers are made; from there on nothing may grow with the data
        assert len(mem) == SAMPLES // WORKERS // 25
        (p0, r0), (p1, r1) = mem[2], mem[-1]
        assert p1 - p0 < 3000, f"worker {pid}: private memory {p0} -> {p1} kB (resident {r0} -> {r1}) kB"
