"""The seed configs' training path stays as it was: its data (resize + horizontal flip, multi-scale) bit
for bit, and its losses step for step.

The values were recorded with the code of commit 1f29136 (the losses re-recorded once, see LOSSES),
before negatives, augmentations, clipping and EMA existed; every one of those options is off here, so
nothing may move (the losses are the same to the last bit on the machine that recorded them). The data
hashes are exact (OpenCV resize and numpy flips are deterministic); the losses are compared at 1e-4
relative, for CPUs with another vector width.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from gnrcnn import load_config
from gnrcnn.engine.train_setup import load_dataset, make_loader, with_classes
from gnrcnn.engine.trainer import TrainArgs, Trainer

from conftest import TINY


def batch_hash(batch) -> str:
    h = hashlib.sha256()
    t = batch.targets
    for x in (batch.images, batch.image_sizes, t.masks, *t.boxes, *t.labels):
        h.update(x.numpy().tobytes())
    return h.hexdigest()[:16]


# (image ids, hash) of every batch of epochs 0 and 1 on shapes8, at 2 images per batch.
DATA_SINGLE_SCALE = [
    ([3, 5], "eb80fb43045a5d62"), ([4, 7], "eef513c707fc4e0c"), ([6, 1], "4f58046ea692166b"),
    ([2, 8], "035def6ea388a267"), ([2, 4], "8d7c4b6097f6cecc"), ([8, 7], "6112a4b368c5ca5b"),
    ([1, 5], "7eeb15fd09009965"), ([3, 6], "e6166a8a18a483ce"),
]  # fmt: skip
DATA_MULTI_SCALE = [
    ([3, 5], "9c9cbe40d26d1ce6"), ([4, 7], "591f8e3f372d1d95"), ([6, 1], "70f2a35da125c8cf"),
    ([2, 8], "f51ed3276a8d83b8"), ([2, 4], "8d7c4b6097f6cecc"), ([8, 7], "8ef7356bbf68c1b2"),
    ([1, 5], "16577fc1211756b0"), ([3, 6], "e22f112616b41b10"),
]  # fmt: skip
# (total, rpn_cls, rpn_bbox, cls, bbox, mask) of iterations 1-3 of tests/data/tiny.yaml with --max-iters 6, on
# one thread: from iteration 2 on, the losses depend on the thread count (another summation order in the
# backward pass moves the next proposals), by up to 1% at iteration 3 between one and two threads.
# Re-recorded once, for one known cause: since commit 75c95ed the FPN consumes the backbone's stages as
# they are computed, which reorders the backward pass's sums (gradients of one step differ by at most
# 1.8e-6 relative, the losses of iteration 1 are bit-identical); the 1f29136 values of iterations 2 and
# 3 were (4.378880962729454, ..., cls 1.3086893558502197, ...) and (4.505803227424622, ...).
LOSSES = [
    (3.802333414554596, 0.6919516921043396, 0.12230288982391357, 1.3930410146713257, 0.5406993627548218,
     1.0543384552001953),
    (4.37920081615448, 0.693071722984314, 0.2370671033859253, 1.309009075164795, 0.5665967464447021,
     1.5734561681747437),
    (4.463200688362122, 0.6919306516647339, 0.42943811416625977, 1.1821379661560059, 0.7752883434295654,
     1.3844056129455566),
]  # fmt: skip
KEYS = ("loss", "loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox", "loss_mask")


@pytest.mark.parametrize(("overrides", "expected"), [([], DATA_SINGLE_SCALE),
                                                     (["input.train_shorts=[96,112,128]"], DATA_MULTI_SCALE)])
def test_seed_data_path_is_bit_identical(shapes8: Path, overrides: list[str], expected: list) -> None:
    ds = load_dataset(str(shapes8 / "annotations" / "train.json"), str(shapes8), False)
    cfg = with_classes(load_config(str(TINY), overrides), ds)
    loader, sampler = make_loader(ds, cfg, 0, 1, torch.device("cpu"))
    seen = []
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        seen += [([m.image_id for m in b.metas], batch_hash(b)) for b in loader]
    assert seen == expected


def test_seed_losses_step_for_step(shapes8: Path, tmp_path: Path) -> None:
    hashes: list[str] = []
    got: list[tuple[float, ...]] = []

    def record(trainer: Trainer, batches: list) -> None:
        hashes.append(batch_hash(batches[0]))

    cfg = load_config(str(TINY))
    args = TrainArgs(data_root=str(shapes8), ann=str(shapes8 / "annotations" / "train.json"), work_dir=str(tmp_path),
                     max_iters=6, stop_at=3)  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        Trainer(cfg, args, hooks=[record]).train()
    finally:
        torch.set_num_threads(threads)
    for line in (tmp_path / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "loss" in rec:  # not the data record
            got.append(tuple(rec[k] for k in KEYS))
    assert hashes == [h for _, h in DATA_SINGLE_SCALE[:3]]
    assert len(got) == 3
    for it, (g, e) in enumerate(zip(got, LOSSES), 1):
        assert g == pytest.approx(e, rel=1e-4), it
