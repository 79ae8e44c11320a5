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
from gnrcnn.train.setup import load_dataset, make_loader, with_classes
from gnrcnn.train.trainer import TrainArgs, Trainer

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
# (total, rpn_cls, rpn_bbox, cls, bbox, mask) of iterations 1-3 of tests/assets/tiny.yaml (its backbone at width 64)
# with --max-iters 6.
# Iteration 1 (the losses of the initial weights: data, anchors, matching, sampling, targets, loss functions) is
# the same to the last bit on every CPU and thread count seen. Iteration 2 (one SGD step later) moves by float
# reordering alone: at most 1.4e-7 relative between 1 and 2 threads on an AMD EPYC (AVX-512), and within 1e-4
# of this Intel-recorded pin there. Iteration 3 is chaotic: two steps of reordered sums move which proposals
# are sampled, and the losses jump by up to 1.2% (total) and 5.6% (bbox) between 1 and 2 threads on the same
# AMD EPYC, the same spread as between that AMD machine and the Intel one that recorded these values. So
# iterations 1-2 are pinned tightly, iteration 3 only bounded (REL_CHAOTIC), and the run is checked bit for
# bit against a second run in the same process. A semantic change moves iteration 1 or 2 far beyond these
# tolerances (the sampler's positive fraction 0.25 -> 0.3: bbox loss at iteration 1 by 21%).
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
REL_PINNED = (1e-5, 1e-4)  # iterations 1 and 2: 1e-5 is ~100x the bit-identical iteration 1's noise; 1e-4 ~700x
REL_CHAOTIC = 0.15  # iteration 3, each loss: ~2.7x the 5.6% measured between thread counts and CPUs
KEYS = ("loss", "loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox", "loss_mask")


@pytest.mark.parametrize(
    ("overrides", "expected"), [([], DATA_SINGLE_SCALE), (["input.train_shorts=[96,112,128]"], DATA_MULTI_SCALE)]
)
def test_seed_data_path_is_bit_identical(shapes8: Path, overrides: list[str], expected: list) -> None:
    ds = load_dataset(str(shapes8 / "annotations" / "train.json"), str(shapes8), False)
    cfg = with_classes(load_config(str(TINY), overrides), ds)
    loader, sampler = make_loader(ds, cfg, 0, 1, torch.device("cpu"))
    seen = []
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        seen += [([m.image_id for m in b.metas], batch_hash(b)) for b in loader]
    assert seen == expected


def train_three_iterations(shapes8: Path, work: Path) -> tuple[list[str], list[tuple[float, ...]], list[float]]:
    """The seed path's first 3 iterations on one thread: batch hashes, losses and the lr of each step, and
    checks after every step that SGD moved each weight by exactly -lr x its momentum buffer."""
    hashes: list[str] = []
    lrs: list[float] = []
    before: dict[str, torch.Tensor] = {}

    def record(trainer: Trainer, batches: list) -> None:
        hashes.append(batch_hash(batches[0]))
        group = trainer.optimizer.param_groups[0]
        lr = group["lr"]
        lrs.append(lr)
        assert (group["momentum"], group["weight_decay"], group["nesterov"]) == (0.9, 1e-4, False)  # the seed's SGD
        trained = [(n, p) for n, p in trainer.model.named_parameters() if p.requires_grad]
        for name, p in trained[::20]:  # a sample of the trained weights: convolutions, norms, linear layers
            if name in before:
                buf = trainer.optimizer.state[p]["momentum_buffer"]
                # float32 rounding of the update itself is ~1e-7 of the weight; a step of another size, >1e-5
                torch.testing.assert_close(p.detach(), before[name] - lr * buf, rtol=1e-6, atol=1e-9)
            before[name] = p.detach().clone()

    cfg = load_config(str(TINY), ["model.backbone.width=64"])  # the pins were recorded with R-18 at full width
    args = TrainArgs(data_root=str(shapes8), ann=str(shapes8 / "annotations" / "train.json"), work_dir=str(work),
                     max_iters=6, stop_at=3)  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        Trainer(cfg, args, hooks=[record]).train()
    finally:
        torch.set_num_threads(threads)
    lines = (work / "metrics.jsonl").read_text().splitlines()
    losses = [tuple(rec[k] for k in KEYS) for rec in map(json.loads, lines) if "loss" in rec]
    return hashes, losses, lrs


def test_seed_losses_step_for_step(shapes8: Path, tmp_path: Path) -> None:
    hashes, got, lrs = train_three_iterations(shapes8, tmp_path / "a")
    assert hashes == [h for _, h in DATA_SINGLE_SCALE[:3]]
    assert len(got) == 3
    # The seed's 0.02 at 16 images, scaled linearly to 2; --max-iters 6 shortens the 5 warm-up iterations of
    # a 96-iteration schedule in proportion, to none, and puts the steps at iterations 4 and 6.
    assert lrs == pytest.approx([0.02 * 2 / 16] * 3, rel=1e-12)
    for it, rel in enumerate(REL_PINNED):
        assert got[it] == pytest.approx(LOSSES[it], rel=rel), it + 1
    assert got[2] == pytest.approx(LOSSES[2], rel=REL_CHAOTIC)
    # Iteration 3 is bounded loosely across CPUs, but on one machine the path is deterministic to the bit.
    again = train_three_iterations(shapes8, tmp_path / "b")
    assert again == (hashes, got, lrs)
