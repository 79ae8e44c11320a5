"""The order of training: the group sampler (orientation, shards, augmentation draws, resume position)
and the learning-rate schedule (warm-up, steps, by epoch and by iteration, shortened by --max-iters)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gnrcnn.config.schema import TrainConfig
from gnrcnn.data.sampler import GroupedBatchSampler
from gnrcnn.train.schedule import make_schedule

# 23 images, 14 landscape (w >= h; one square) and 9 portrait, in no particular order.
_RNG = np.random.default_rng(7)
LANDSCAPE = _RNG.permutation(np.array([True] * 14 + [False] * 9))
WIDTHS = np.where(LANDSCAPE, 640, 480)
HEIGHTS = np.where(LANDSCAPE, 480, 640)
HEIGHTS[np.flatnonzero(LANDSCAPE)[0]] = 640  # a square image counts as landscape


def _sampler(batch: int = 2, rank: int = 0, world: int = 1, **kw: object) -> GroupedBatchSampler:
    return GroupedBatchSampler(widths=WIDTHS, heights=HEIGHTS, batch_size=batch, seed=3, rank=rank, world=world,
                               **kw)  # type: ignore[arg-type]  # fmt: skip


def _epoch(s: GroupedBatchSampler, epoch: int, start: int = 0) -> list[list[tuple[int, bool, int]]]:
    """(image, flip, short side) of each batch item; the epoch the sampler adds to each is checked here."""
    s.set_epoch(epoch, start)
    batches = list(s)
    assert all(e == epoch for b in batches for *_, e in b)
    return [[(i, f, sh) for i, f, sh, _ in b] for b in batches]


@pytest.mark.parametrize("batch", [1, 2, 4])
def test_one_epoch_holds_every_image_once_in_batches_of_one_orientation(batch: int) -> None:
    s = _sampler(batch)
    batches = _epoch(s, 0)
    assert len(batches) == len(s)
    ids = [i for b in batches for i, _, _ in b]
    assert sorted(ids) == list(range(len(WIDTHS)))
    # Full buckets of one orientation; only the leftovers (fewer than `batch` of each orientation,
    # portrait first) may share the one last, mixed batch.
    pure = [b for b in batches if len({bool(LANDSCAPE[i]) for i, _, _ in b}) == 1]
    mixed = [b for b in batches if b not in pure]
    assert len(WIDTHS) - sum(len(b) for b in pure if len(b) == batch) == 9 % batch + 14 % batch
    assert len(mixed) <= 1 and (not mixed or mixed[0] in batches[-2:])
    assert all(len(b) == batch for b in batches[: -2 or None])


def test_a_bucket_is_emitted_when_it_fills() -> None:
    """MMDetection's AspectRatioBatchSampler: the full batches come in the order in which their last
    image appears in the epoch's permutation."""
    s = _sampler(3)
    perm = np.random.default_rng([3, 5]).permutation(len(WIDTHS))
    position = {int(i): p for p, i in enumerate(perm)}
    full = [b for b in _epoch(s, 5) if len(b) == 3 and len({bool(LANDSCAPE[i]) for i, _, _ in b}) == 1]
    ends = [max(position[i] for i, _, _ in b) for b in full]
    assert ends == sorted(ends) and len(full) == 9 // 3 + 14 // 3
    for b in full:  # within a batch, the images in permutation order
        assert [position[i] for i, _, _ in b] == sorted(position[i] for i, _, _ in b)


def test_order_is_a_function_of_seed_and_epoch() -> None:
    assert _epoch(_sampler(), 4) == _epoch(_sampler(), 4)
    assert _epoch(_sampler(), 4) != _epoch(_sampler(), 5)
    other = GroupedBatchSampler(widths=WIDTHS, heights=HEIGHTS, batch_size=2, seed=4)
    assert _epoch(_sampler(), 4) != _epoch(other, 4)


@pytest.mark.parametrize(("batch", "world"), [(1, 1), (2, 1), (2, 2), (3, 3)])
def test_resuming_mid_epoch_yields_exactly_the_rest_of_the_epoch(batch: int, world: int) -> None:
    for rank in range(world):
        for epoch in (0, 1, 7):
            full = _epoch(_sampler(batch, rank, world), epoch)
            for start in range(len(full) + 1):
                resumed = _epoch(_sampler(batch, rank, world), epoch, start)  # a fresh sampler, as after a restart
                assert resumed == full[start:], (rank, epoch, start)


def test_augmentation_is_drawn_per_image_and_epoch_not_per_position() -> None:
    """A resumed run and every rank agree on each image's flip and scale: they depend on (seed, epoch, image)."""
    shorts = [640, 672, 704, 736, 768, 800]
    draws: dict[int, tuple[bool, int]] = {}
    for rank in range(2):
        for b in _epoch(_sampler(2, rank, 2, shorts=shorts), 2):
            for i, flip, short in b:
                assert draws.setdefault(i, (flip, short)) == (flip, short)
    assert {s for _, s in draws.values()} <= set(shorts)


def test_flip_probability_and_scales_over_many_images() -> None:
    n = 4000
    s = GroupedBatchSampler(widths=np.full(n, 640), heights=np.full(n, 480), batch_size=8, seed=0, flip_prob=0.5,
                            shorts=[600, 700, 800])  # fmt: skip
    items = [x for b in _epoch(s, 0) for x in b]
    flips = np.array([f for _, f, _ in items])
    shorts = np.array([sh for _, _, sh in items])
    assert abs(flips.mean() - 0.5) < 0.04  # 5 sigma of a fair coin over 4000 draws: 0.04
    assert all(abs((shorts == v).mean() - 1 / 3) < 0.04 for v in (600, 700, 800))
    for p in (0.0, 1.0):
        s = GroupedBatchSampler(widths=WIDTHS, heights=HEIGHTS, batch_size=2, flip_prob=p)
        assert {f for b in _epoch(s, 0) for _, f, _ in b} == {bool(p)}
    s = GroupedBatchSampler(widths=WIDTHS, heights=HEIGHTS, batch_size=2)
    assert {sh for b in _epoch(s, 0) for _, _, sh in b} == {800}  # no scales given: the single default


@pytest.mark.parametrize("world", [2, 3, 4])
def test_shards_are_disjoint_and_equally_long(world: int) -> None:
    n = len(WIDTHS)
    for epoch in range(4):
        shards = [_epoch(_sampler(2, r, world), epoch) for r in range(world)]
        lengths = {len(s) for s in shards}
        assert len(lengths) == 1 and lengths == {len(_sampler(2, 0, world))}
        ids = [[i for b in s for i, _, _ in b] for s in shards]
        # The permutation is padded by repeating its start so every rank gets ceil(n / world) images:
        # only those repeats may appear on two ranks.
        pad = -(-n // world) * world - n
        seen = [i for rank in ids for i in rank]
        assert len(seen) - len(set(seen)) <= pad
        for r in range(world):
            assert len(ids[r]) == len(set(ids[r]))  # no image twice on one rank
        if pad == 0:
            assert len(seen) == len(set(seen))


def test_shards_of_a_divisible_set_cover_it_exactly() -> None:
    n = 24
    w, h = np.full(n, 640), np.full(n, 480)  # one orientation: no batch is lost to leftovers
    shards = []
    for r in range(4):
        s = GroupedBatchSampler(widths=w, heights=h, batch_size=3, seed=1, rank=r, world=4)
        shards.append({i for b in _epoch(s, 2) for i, _, _ in b})
    assert sum(len(x) for x in shards) == n and set().union(*shards) == set(range(n))


# ---------------------------------------------------------------- the lr schedule
BASE = TrainConfig(base_lr=0.02, base_batch=16, warmup_iters=500, warmup_factor=0.001, epochs=12,
                   lr_step_epochs=[8, 11])  # fmt: skip


def test_epoch_schedule_warmup_and_steps() -> None:
    s = make_schedule(BASE, iters_per_epoch=100, total_batch=16)
    assert (s.total_iters, s.steps, s.warmup_iters, s.base_lr) == (1200, (800, 1100), 500, 0.02)
    assert s.lr(0) == pytest.approx(0.02 * 0.001)
    assert s.lr(250) == pytest.approx(0.02 * (0.001 + 0.999 * 0.5))
    assert s.lr(499) == pytest.approx(0.02 * (0.001 + 0.999 * 499 / 500))
    assert s.lr(500) == pytest.approx(0.02) and s.lr(799) == pytest.approx(0.02)
    assert s.lr(800) == pytest.approx(0.002) and s.lr(1099) == pytest.approx(0.002)
    assert s.lr(1100) == pytest.approx(0.0002) and s.lr(1199) == pytest.approx(0.0002)
    lrs = [s.lr(i) for i in range(500)]
    assert np.allclose(np.diff(lrs), 0.02 * 0.999 / 500, rtol=1e-9, atol=0)  # the warm-up rises linearly


def test_linear_scaling_to_the_real_batch() -> None:
    assert make_schedule(BASE, 100, total_batch=4).base_lr == pytest.approx(0.005)
    assert make_schedule(BASE, 100, total_batch=64).lr(1000) == pytest.approx(0.08 * 0.1)


def test_iteration_schedule_ignores_epochs() -> None:
    cfg = dataclasses.replace(BASE, iters=90_000, lr_step_iters=[60_000, 80_000], warmup_iters=1000)
    s = make_schedule(cfg, iters_per_epoch=7, total_batch=16)
    assert (s.total_iters, s.steps, s.warmup_iters) == (90_000, (60_000, 80_000), 1000)
    assert s.lr(59_999) == pytest.approx(0.02) and s.lr(60_000) == pytest.approx(0.002)
    assert s.lr(80_000) == pytest.approx(0.0002)
    assert s.lr(500) == pytest.approx(0.02 * (0.001 + 0.999 * 0.5))


def test_max_iters_keeps_the_shape_of_the_schedule() -> None:
    s = make_schedule(BASE, 100, 16, max_iters=120)  # a tenth of the run
    assert (s.total_iters, s.steps, s.warmup_iters) == (120, (80, 110), 50)
    assert s.lr(79) == pytest.approx(0.02) and s.lr(80) == pytest.approx(0.002) and s.lr(110) == pytest.approx(2e-4)
    assert s.lr(25) == pytest.approx(0.02 * (0.001 + 0.999 * 0.5))
    assert make_schedule(BASE, 100, 16, max_iters=12000).warmup_iters == 500  # never longer than configured
    it = dataclasses.replace(BASE, iters=1000, lr_step_iters=[750], warmup_iters=100)
    assert make_schedule(it, 1, 16, max_iters=40).steps == (30,)
    assert make_schedule(it, 1, 16, max_iters=40).warmup_iters == 4


def test_a_step_inside_the_warmup_multiplies_both() -> None:
    cfg = dataclasses.replace(BASE, iters=100, lr_step_iters=[10], warmup_iters=20)
    s = make_schedule(cfg, 1, 16)
    assert s.lr(15) == pytest.approx(0.02 * 0.1 * (0.001 + 0.999 * 15 / 20))
