"""Batches of images of the same orientation, sharded over ranks, reproducible per (seed, epoch).

Each batch element is (record index, flip, short side, epoch): the seed's augmentation is drawn here
(the others from a generator seeded with the epoch and index, ``augment.py``), so that a run resumed in
the middle of an epoch sees exactly the samples an uninterrupted run would.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


def _group(shard: np.ndarray, landscape: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """MMDetection's AspectRatioBatchSampler: fill one bucket per orientation, emit a bucket when it
    is full; leftovers (portrait first, then landscape) form the last batches."""
    batches, ends, left = [], [], []
    pos = np.arange(len(shard))
    for orient in (False, True):
        sel = landscape[shard] == orient
        idx, where = shard[sel], pos[sel]
        k = len(idx) // batch_size
        batches += list(idx[: k * batch_size].reshape(k, batch_size))
        ends += list(where[batch_size - 1 : k * batch_size : batch_size])
        left.append(idx[k * batch_size :])
    order = np.argsort(ends, kind="stable")
    out = [batches[i] for i in order]
    rest = np.concatenate(left)
    out += [rest[i : i + batch_size] for i in range(0, len(rest), batch_size)]
    return out


class GroupedBatchSampler(torch.utils.data.Sampler):
    def __init__(
        self,
        *,
        widths: np.ndarray,
        heights: np.ndarray,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        shuffle: bool = True,
        flip_prob: float = 0.5,
        shorts: list[int] | None = None,
    ) -> None:
        self.landscape = np.asarray(widths) >= np.asarray(heights)
        self.n, self.batch_size, self.seed = len(self.landscape), batch_size, seed
        self.rank, self.world, self.shuffle = rank, world, shuffle
        self.flip_prob, self.shorts = flip_prob, list(shorts or [800])
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Epoch to draw, and how many of its batches were already done (when resuming)."""
        self.epoch, self.start = epoch, start_batch

    def _shard(self, epoch: int, rank: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, epoch])
        perm = rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        total = -(-self.n // self.world) * self.world  # pad so every rank gets as many images
        return np.resize(perm, total)[rank :: self.world]

    def _count(self, epoch: int, rank: int) -> int:
        land = int(np.count_nonzero(self.landscape[self._shard(epoch, rank)]))
        port = -(-self.n // self.world) - land
        full = land // self.batch_size + port // self.batch_size
        rest = land % self.batch_size + port % self.batch_size
        return full + -(-rest // self.batch_size)

    def __len__(self) -> int:
        """Batches per epoch: the same on every rank (the smallest count), or ranks would wait on each other."""
        return min(self._count(self.epoch, r) for r in range(self.world))

    def __iter__(self) -> Iterator[list[tuple[int, bool, int, int]]]:
        batches = _group(self._shard(self.epoch, self.rank), self.landscape, self.batch_size)[: len(self)]
        aug = np.random.default_rng([self.seed, self.epoch, 1])
        flips = aug.random(self.n) < self.flip_prob
        shorts = np.asarray(self.shorts)[aug.integers(0, len(self.shorts), self.n)]
        for b in batches[self.start :]:
            yield [(int(i), bool(flips[i]), int(shorts[i]), self.epoch) for i in b]
