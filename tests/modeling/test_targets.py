"""Training targets on hand-made cases: assignment thresholds and ties, sampling, mask targets."""

from __future__ import annotations

import torch

from gnrcnn.modeling.assign import max_iou_assign, random_sample
from gnrcnn.modeling.box_ops import pairwise_iou
from gnrcnn.modeling.roi_targets import mask_targets


def assign(iou: list[list[float]], pos=0.7, neg=0.3, min_pos=0.3, low=True, valid=None, gt_valid=None):
    t = torch.tensor(iou)[None]
    v = torch.ones(t.shape[::2], dtype=torch.bool) if valid is None else torch.tensor([valid])
    g = torch.ones(t.shape[:2], dtype=torch.bool) if gt_valid is None else torch.tensor([gt_valid])
    return max_iou_assign(t, g, v, pos, neg, min_pos, low)[0].tolist()


def test_thresholds() -> None:
    # one ground truth; candidates at IoU 0.8, 0.7, 0.5, 0.3, 0.29, 0
    iou = [[0.8, 0.7, 0.5, 0.3, 0.29, 0.0]]
    assert assign(iou, low=False) == [1, 1, -1, -1, 0, 0]
    assert assign(iou, low=True) == [1, 1, -1, -1, 0, 0]  # its best (0.8) is already positive


def test_low_quality_matches_take_all_ties() -> None:
    # gt 0's best IoU is 0.4, reached by candidates 0 and 2: both become its positives
    iou = [[0.4, 0.1, 0.4, 0.35], [0.0, 0.2, 0.1, 0.0]]
    assert assign(iou, low=False) == [-1, 0, -1, -1]
    assert assign(iou, low=True) == [1, 0, 1, -1]
    # gt 1's best (0.2) is under min_pos_iou: no low-quality match for it
    assert assign(iou, low=True, min_pos=0.3)[1] == 0


def test_low_quality_overwrites_in_ground_truth_order() -> None:
    # candidate 0: IoU 0.9 with gt 0 (positive for gt 0), but it is gt 1's best (0.6) -> gt 1 claims it
    iou = [[0.9, 0.8], [0.6, 0.1]]
    assert assign(iou, pos=0.5, neg=0.5, min_pos=0.5, low=True) == [2, 1]
    assert assign(iou, pos=0.5, neg=0.5, min_pos=0.5, low=False) == [1, 1]


def test_invalid_candidates_and_padded_ground_truth() -> None:
    iou = [[0.9, 0.1, 0.5], [0.95, 0.95, 0.95]]
    assert assign(iou, valid=[True, True, False], gt_valid=[True, False]) == [1, 0, -1]
    # an image without any ground truth: every valid candidate is negative
    assert assign(iou, valid=[True, False, True], gt_valid=[False, False]) == [0, -1, 0]


def test_sampler_counts_and_fractions() -> None:
    g = torch.Generator().manual_seed(0)
    codes = torch.zeros((3, 2000), dtype=torch.long)
    codes[0, :300] = 1  # plenty of positives: capped at half
    codes[1, :10] = 2  # few positives: negatives fill up
    codes[2, :] = -1  # only 100 candidates at all
    codes[2, :5], codes[2, 5:100] = 1, 0
    pos, neg = random_sample(codes, 256, 0.5, g)
    assert pos.sum(1).tolist() == [128, 10, 5] and neg.sum(1).tolist() == [128, 246, 95]
    assert not (pos & neg).any() and bool((codes[pos] > 0).all()) and bool((codes[neg] == 0).all())
    pos2, _ = random_sample(codes, 256, 0.5, torch.Generator().manual_seed(1))
    assert not torch.equal(pos[0], pos2[0])  # a random choice, not the first 128
    pos, neg = random_sample(codes[:1], 512, 0.25, g)
    assert (int(pos.sum()), int(neg.sum())) == (128, 384)


def test_box_shaped_mask_gives_all_ones_target() -> None:
    gt = torch.zeros((2, 96, 128), dtype=torch.uint8)
    gt[1, 20:60, 10:50] = 1  # a box x in [10, 50), y in [20, 60)
    rois = torch.tensor([[0.0, 10.0, 20.0, 50.0, 60.0]])
    target = mask_targets(gt, rois, torch.tensor([1]), 28)
    assert target.shape == (1, 28, 28) and bool((target == 1).all())
    # a RoI twice as wide: the left half covers the mask, the right half does not
    half = mask_targets(gt, torch.tensor([[0.0, 10.0, 20.0, 90.0, 60.0]]), torch.tensor([1]), 28)
    assert bool((half[0, :, :14] == 1).all()) and bool((half[0, :, 14:] == 0).all())


def test_iou_matrix() -> None:
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    b = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0], [0.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(pairwise_iou(a, b), torch.tensor([[1.0, 1 / 3, 0.0, 0.0]]))
