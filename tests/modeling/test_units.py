"""Box maths, anchors, level mapping, NMS, mask pasting and post-processing against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from gnrcnn.modeling import box_coder
from gnrcnn.modeling.anchors import AnchorGenerator
from gnrcnn.modeling.box_ops import grouped_nms, multiclass_nms, pairwise_iou, scale_boxes
from gnrcnn.modeling.mask_paste import paste_masks
from gnrcnn.modeling.postprocess import to_instances
from gnrcnn.modeling.roi_pooler import map_levels
from gnrcnn.structures import Detections, ImageMeta


def test_anchors_of_a_2x2_grid_at_stride_4() -> None:
    gen = AnchorGenerator(strides=[4], scale=8.0, ratios=[0.5, 1.0, 2.0])
    (a,) = gen([(2, 2)], torch.device("cpu"))
    s2 = math.sqrt(2.0)
    base = torch.tensor(
        [[-16 * s2, -8 * s2, 16 * s2, 8 * s2], [-16, -16, 16, 16], [-8 * s2, -16 * s2, 8 * s2, 16 * s2]]
    )
    shifts = torch.tensor([[0, 0], [4, 0], [0, 4], [4, 4]], dtype=torch.float32)  # (x, y) by row, then column
    want = (base[None] + shifts.repeat(1, 2)[:, None]).reshape(-1, 4)
    assert a.shape == (12, 4)
    torch.testing.assert_close(a, want, rtol=0, atol=1e-5)
    assert gen([(2, 2)], torch.device("cpu"))[0] is a  # cached


def test_encode_decode_round_trip_and_clamp() -> None:
    ref = torch.tensor([[10.0, 20.0, 50.0, 100.0], [0.0, 0.0, 8.0, 4.0]])
    tgt = torch.tensor([[12.0, 18.0, 60.0, 90.0], [1.0, -1.0, 5.0, 9.0]])
    for stds in ([1.0, 1.0, 1.0, 1.0], [0.1, 0.1, 0.2, 0.2]):
        d = box_coder.encode(ref, tgt, stds)
        torch.testing.assert_close(box_coder.decode(ref, d, stds), tgt, atol=1e-4, rtol=0)
    d = box_coder.encode(ref[:1], tgt[:1], [1.0] * 4)
    want = torch.tensor([[(36 - 30) / 40, (54 - 60) / 80, math.log(48 / 40), math.log(72 / 80)]])
    torch.testing.assert_close(d, want)
    # dw, dh are clamped to +-log(1000/16): a huge delta scales the size by at most 62.5
    big = box_coder.decode(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[0.0, 0.0, 50.0, -50.0]]), [1.0] * 4)
    assert big[0, 2] - big[0, 0] == pytest.approx(2 * 62.5, rel=1e-5)
    assert big[0, 3] - big[0, 1] == pytest.approx(2 / 62.5, rel=1e-5)
    clipped = box_coder.decode(torch.tensor([[0.0, 0.0, 20.0, 20.0]]), torch.tensor([[0.0, 0.0, 1.0, 1.0]]),
                               [1.0] * 4, torch.tensor([[15.0, 30.0]]))  # fmt: skip
    assert clipped.tolist() == [[0.0, 0.0, 30.0, 15.0]]  # x to [0, w], y to [0, h]


def test_class_specific_decode() -> None:
    ref = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    deltas = torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]])  # two classes
    out = box_coder.decode(ref, deltas, [0.1, 0.1, 0.2, 0.2])
    assert out.shape == (1, 8)
    assert out[0, :4].tolist() == [0.0, 0.0, 10.0, 10.0] and out[0, 4:].tolist() == [1.0, 0.0, 11.0, 10.0]


@pytest.mark.parametrize(("size", "level"), [(55, 0), (56, 0), (111, 0), (112, 1), (224, 2), (448, 3), (1000, 3)])
def test_level_mapping(size: float, level: int) -> None:
    box = torch.tensor([[0.0, 0.0, size, size]])
    assert map_levels(box).item() == level
    assert map_levels(torch.tensor([[5.0, 5.0, 5.0 + size / 2, 5.0 + size * 2]])).item() == level  # sqrt(w h)


NMS = {"score_thr": 0.05, "nms_iou": 0.5, "max_per_image": 100}


def test_multiclass_nms() -> None:
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 0.0, 11.0, 10.0], [50.0, 50.0, 60.0, 60.0]])
    scores = torch.tensor([[0.9, 0.05], [0.8, 0.7], [0.06, 0.0501]])
    dets = multiclass_nms(boxes[:, None].expand(3, 2, 4), scores, torch.zeros(3, dtype=torch.long), **NMS)
    # class 0: box 1 (IoU 0.82 with box 0) suppressed; 0.05 is not > 0.05; class 1 keeps its own copy of box 1
    assert dets.scores.tolist() == pytest.approx([0.9, 0.7, 0.06, 0.0501])
    assert dets.labels.tolist() == [0, 1, 0, 1]
    torch.testing.assert_close(dets.boxes, boxes[[0, 1, 2, 2]])
    # the cap: 150 disjoint boxes of one class keep the 100 best, best first
    xs = torch.arange(150, dtype=torch.float32) * 20
    many = torch.stack([xs, xs * 0, xs + 10, xs * 0 + 10], 1)[:, None]
    sc = torch.linspace(0.1, 0.9, 150)[:, None]
    dets = multiclass_nms(many, sc, torch.zeros(150, dtype=torch.long), **NMS)
    assert len(dets.scores) == 100 and torch.equal(dets.scores, sc.flatten().flip(0)[:100])
    # images never suppress each other either
    two = multiclass_nms(boxes[:2, None], scores[:2, :1], torch.tensor([0, 1]), **NMS)
    assert two.image_ids.tolist() == [0, 1]


@pytest.mark.parametrize("n", [300, 1500])  # one shifted call / one call per group
def test_grouped_nms_matches_per_group_nms(n: int) -> None:
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(n, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 5 + torch.rand(n, 2, generator=g) * 30], 1)
    scores, groups = torch.rand(n, generator=g), torch.randint(0, 5, (n,), generator=g)
    keep = grouped_nms(boxes, scores, groups, 0.5)
    assert torch.all(scores[keep][:-1] >= scores[keep][1:])
    for c in range(5):
        idx = torch.nonzero(groups == c).squeeze(1)
        ious = pairwise_iou(boxes[idx], boxes[idx])
        order = torch.argsort(scores[idx], descending=True)
        kept: list[int] = []
        for i in order.tolist():
            if all(ious[i, j] <= 0.5 for j in kept):
                kept.append(i)
        assert set(idx[kept].tolist()) == set(keep[groups[keep] == c].tolist())


def test_paste_constant_map_fills_exactly_the_box() -> None:
    boxes = torch.tensor([[10.2, 20.7, 30.3, 40.1], [0.0, 0.0, 4.0, 3.0]])
    masks = paste_masks(torch.ones(2, 28, 28), boxes, torch.tensor([0, 1]), [(50, 40), (6, 7)])
    want = torch.zeros(50, 40, dtype=torch.bool)
    want[21:40, 10:30] = True  # pixel centres y + 0.5 in [20.7, 40.1], x + 0.5 in [10.2, 30.3]
    assert masks[0].shape == (1, 50, 40) and torch.equal(masks[0][0], want)
    want = torch.zeros(6, 7, dtype=torch.bool)
    want[:3, :4] = True
    assert torch.equal(masks[1][0], want)


def test_paste_in_small_chunks_equals_one_chunk() -> None:
    g = torch.Generator().manual_seed(1)
    xy = torch.rand(40, 2, generator=g) * 80
    boxes = torch.cat([xy, xy + 1 + torch.rand(40, 2, generator=g) * 60], 1).clamp(max=100)
    probs = torch.rand(40, 28, 28, generator=g)
    ids = torch.sort(torch.randint(0, 3, (40,), generator=g)).values
    shapes = [(100, 100), (90, 120), (100, 101)]
    a = paste_masks(probs, boxes, ids, shapes)
    b = paste_masks(probs, boxes, ids, shapes, budget=500)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert [m.shape[0] for m in a] == torch.bincount(ids, minlength=3).tolist()


def test_rescale_boxes_per_axis() -> None:
    out = scale_boxes(torch.tensor([[10.0, 20.0, 30.0, 40.0]]), torch.tensor([[2.0, 0.5]]))
    assert out.tolist() == [[5.0, 40.0, 15.0, 80.0]]


def _paste_whole_image(prob: torch.Tensor, box: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The definition: every pixel centre of the image samples the map spanning the box."""
    x0, y0, x1, y1 = box.tolist()
    gy = ((torch.arange(h, dtype=torch.float32) + 0.5 - y0) / (y1 - y0)) * 2 - 1
    gx = ((torch.arange(w, dtype=torch.float32) + 0.5 - x0) / (x1 - x0)) * 2 - 1
    grid = torch.stack([gx[None].expand(h, w), gy[:, None].expand(h, w)], -1)[None]
    return torch.nn.functional.grid_sample(prob[None, None], grid, align_corners=False)[0, 0] >= 0.5


def test_windowed_paste_equals_whole_image_paste() -> None:
    g = torch.Generator().manual_seed(2)
    xy = torch.rand(30, 2, generator=g) * torch.tensor([70.0, 50.0])
    boxes = torch.cat([xy, xy + 0.5 + torch.rand(30, 2, generator=g) * 40], 1)
    boxes = torch.minimum(boxes, torch.tensor([80.0, 60.0, 80.0, 60.0]))
    probs = torch.rand(30, 28, 28, generator=g) ** 0.3  # many values near 1, so edges matter
    (masks,) = paste_masks(probs, boxes, torch.zeros(30, dtype=torch.long), [(60, 80)])
    for i in range(30):
        assert torch.equal(masks[i], _paste_whole_image(probs[i], boxes[i], 60, 80))


def test_detectron2_resize_rule() -> None:
    from gnrcnn.data.preprocess import scaled_size

    assert scaled_size(480, 640, 800, 1333, "detectron2") == (800, 1067)
    assert scaled_size(400, 1000, 800, 1333, "detectron2") == (533, 1333)  # the long side caps
    assert scaled_size(640, 480, 800, 1333, "detectron2") == (1067, 800)
    assert scaled_size(300, 451, 800, 1333, "mmdet") == (800, 1203)


def test_detectron2_level_mapping_and_decoding() -> None:
    for size, level in [(111, 0), (112, 1), (224, 2), (447, 2), (448, 3), (1000, 3)]:
        assert map_levels(torch.tensor([[0.0, 0.0, size, size]]), rule="detectron2").item() == level
    ref = torch.tensor([[10.0, 20.0, 50.0, 100.0]])
    deltas = torch.tensor([[0.3, -0.2, 0.5, -0.4]])
    stds = [0.1, 0.1, 0.2, 0.2]
    # detectron2's Box2BoxTransform with weights (10, 10, 5, 5), by hand:
    dx, dy, dw, dh = 0.3 / 10, -0.2 / 10, 0.5 / 5, -0.4 / 5
    cx, cy = 10 + 0.5 * 40 + dx * 40, 20 + 0.5 * 80 + dy * 80
    w, h = math.exp(dw) * 40, math.exp(dh) * 80
    want = torch.tensor([[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]])
    torch.testing.assert_close(box_coder.decode_detectron2(ref, deltas, stds), want)
    torch.testing.assert_close(box_coder.decode(ref, deltas, stds), want)  # the same maths, other rounding
    # detectron2 clamps dw/dh from above only: a very negative dw is not clamped
    small = box_coder.decode_detectron2(ref, torch.tensor([[0.0, 0.0, -50.0, 0.0]]), [1.0] * 4)
    assert float(small[0, 2] - small[0, 0]) < 40 / 62.5


def test_detectron2_anchors_equal_mmdet_up_to_rounding() -> None:
    from gnrcnn.modeling.anchors import base_anchors

    a, b = base_anchors(16, 8.0, [0.5, 1.0, 2.0], "mmdet"), base_anchors(16, 8.0, [0.5, 1.0, 2.0], "detectron2")
    torch.testing.assert_close(a, b, rtol=0, atol=1e-4)


# Image 0: 200 x 100 shown at 100 x 50 (x2 back); image 1: 40 x 30 shown at 80 x 60 (x0.5 back).
POST_METAS = [ImageMeta((100, 200), (50, 100), (0.5, 0.5)), ImageMeta((30, 40), (60, 80), (2.0, 2.0))]
POST_BOXES = [
    [10.0, 5, 60, 40],  # image 0 -> [20, 10, 120, 80]
    [90, 45, 120, 60],  # -> [180, 90, 240, 120], past the right and bottom edges
    [110, 10, 130, 20],  # -> [220, 20, 260, 40], wholly right of the image
    [-4, 2, 20, 30],  # image 1 -> [-2, 1, 10, 15], left of the image
    [30, 70, 50, 90],  # -> [15, 35, 25, 45], wholly below the image
]


def _post_dets() -> tuple[Detections, torch.Tensor]:
    dets = Detections(torch.tensor(POST_BOXES), torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5]), torch.tensor([2, 0, 1, 1, 0]),
                      torch.tensor([0, 0, 0, 1, 1]))  # fmt: skip
    return dets, torch.ones(5, 28, 28)  # masks filling their boxes


def test_detectron2_postprocess_multiplies_clips_and_drops_empty_boxes() -> None:
    out = to_instances(*_post_dets(), POST_METAS, box_arithmetic="detectron2")
    assert out[0].boxes.tolist() == [[20, 10, 120, 80], [180, 90, 200, 100]]  # the third: [200, 20, 200, 40], empty
    assert out[0].scores.tolist() == pytest.approx([0.9, 0.8]) and out[0].labels.tolist() == [2, 0]
    assert out[1].boxes.tolist() == [[0, 1, 10, 15]]  # the second: [15, 30, 25, 30], empty
    assert out[1].scores.tolist() == pytest.approx([0.6]) and out[1].labels.tolist() == [1]
    assert tuple(out[0].masks.shape) == (2, 100, 200) and tuple(out[1].masks.shape) == (1, 30, 40)
    for inst in out:  # each mask is pasted into its clipped box (and fills it, bar bilinear corners)
        for (x0, y0, x1, y1), m in zip(inst.boxes.int().tolist(), inst.masks):
            inside = int(m[y0:y1, x0:x1].sum())
            assert inside == int(m.sum()) and inside >= 0.99 * (x1 - x0) * (y1 - y0)


def test_mmdet_postprocess_divides_and_keeps_every_box() -> None:
    out = to_instances(*_post_dets(), POST_METAS, box_arithmetic="mmdet")
    assert out[0].boxes.tolist() == [[20, 10, 120, 80], [180, 90, 240, 120], [220, 20, 260, 40]]
    assert out[1].boxes.tolist() == [[-2, 1, 10, 15], [15, 35, 25, 45]]
    assert [len(o) for o in out] == [3, 2] and int(out[1].masks[1].sum()) == 0  # a mask outside the image is empty


def test_detectron2_and_mmdet_rescaling_round_differently() -> None:
    """x * (100 / 150) in float32 (detectron2) vs x / 1.5 (MMDetection): values by numpy, float32."""
    meta = [ImageMeta((100, 100), (150, 150), (1.5, 1.5))]
    dets = Detections(torch.tensor([[5.0, 7, 10, 14]]), torch.tensor([0.9]), torch.tensor([0]), torch.tensor([0]))
    d2 = to_instances(dets, torch.ones(1, 28, 28), meta, box_arithmetic="detectron2")[0].boxes
    mm = to_instances(dets, torch.ones(1, 28, 28), meta, box_arithmetic="mmdet")[0].boxes
    assert torch.equal(d2, torch.tensor([[3.3333335, 4.666667, 6.666667, 9.333334]]))
    assert torch.equal(mm, torch.tensor([[3.3333333, 4.6666665, 6.6666665, 9.333333]]))


def test_resnet_width_scales_every_stage() -> None:
    from gnrcnn.modeling.norm import group_norm
    from gnrcnn.modeling.resnet import ResNet

    full, narrow = (ResNet(depth=18, norm=group_norm, width=w) for w in (64, 32))
    assert list(full.out_channels.values()) == [64, 128, 256, 512]
    assert list(narrow.out_channels.values()) == [32, 64, 128, 256]
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(narrow) < 0.26 * count(full)  # convolutions' weights go with the square of the width
    feats = narrow(torch.zeros(1, 3, 64, 64))
    assert {k: tuple(v.shape[1:]) for k, v in feats.items()} == {
        "c2": (32, 16, 16), "c3": (64, 8, 8), "c4": (128, 4, 4), "c5": (256, 2, 2)}  # fmt: skip
