"""Training augmentation: a flipped sample mirrors image, boxes and masks together; a drawn short side
gives the right scale (capped by the long side)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from gnrcnn.config.schema import InputConfig
from gnrcnn.data.records import ImageRecord
from gnrcnn.data.train_data import collate, load_sample

H, W = 40, 60
# Two instances: a 20 x 15 rectangle (polygon) and an L-shape (RLE), both off-centre so that a
# mirror image is never equal to the original.
RECT = [10.0, 5.0, 30.0, 5.0, 30.0, 20.0, 10.0, 20.0]


def _l_shape() -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    m[22:36, 40:44] = 1
    m[32:36, 44:56] = 1
    return m


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> ImageRecord:
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)  # RGB
    path = tmp_path_factory.mktemp("aug") / "img.png"
    cv2.imwrite(str(path), img[..., ::-1])
    rle = mask_utils.encode(np.asfortranarray(_l_shape()))
    rle["counts"] = rle["counts"].decode()
    return ImageRecord(
        image_id=7, file_name="img.png", path=path, width=W, height=H,
        boxes=np.array([[10, 5, 30, 20], [40, 22, 56, 36]], np.float32), labels=np.array([0, 2]),
        segms=[[RECT], rle],
    )  # fmt: skip


def _expected_masks(scale: int = 1) -> torch.Tensor:
    rect = np.zeros((H, W), np.uint8)
    rect[5:20, 10:30] = 1  # pycocotools fills the integer rectangle's pixels [10, 30) x [5, 20)
    masks = np.stack([rect, _l_shape()])
    return torch.from_numpy(masks.repeat(scale, axis=1).repeat(scale, axis=2))


def test_unflipped_sample_at_its_own_size(record: ImageRecord) -> None:
    s = load_sample(record, InputConfig(short=H, long=1000), H, flip=False)
    img = cv2.cvtColor(cv2.imread(str(record.path)), cv2.COLOR_BGR2RGB)
    assert torch.equal(s.image, torch.from_numpy(img).permute(2, 0, 1))
    assert torch.equal(s.boxes, torch.tensor([[10.0, 5, 30, 20], [40, 22, 56, 36]]))
    assert torch.equal(s.masks, _expected_masks())
    assert s.labels.tolist() == [0, 2]
    assert (s.meta.ori_shape, s.meta.img_shape, s.meta.scale_factor) == ((H, W), (H, W), (1.0, 1.0))


def test_flip_mirrors_image_boxes_and_masks_together(record: ImageRecord) -> None:
    cfg = InputConfig(short=H, long=1000)
    plain, flipped = load_sample(record, cfg, H, flip=False), load_sample(record, cfg, H, flip=True)
    assert torch.equal(flipped.image, plain.image.flip(-1))
    assert torch.equal(flipped.masks, plain.masks.flip(-1))
    # x1' = W - x2, x2' = W - x1; y unchanged; by hand for W = 60:
    assert torch.equal(flipped.boxes, torch.tensor([[30.0, 5, 50, 20], [4, 22, 20, 36]]))
    assert flipped.labels.tolist() == plain.labels.tolist()
    # Each box still encloses exactly its mask.
    for box, mask in zip(flipped.boxes, flipped.masks):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] == box.int().tolist()


@pytest.mark.parametrize("flip", [False, True])
def test_a_drawn_short_side_scales_image_boxes_and_masks(record: ImageRecord, flip: bool) -> None:
    s = load_sample(record, InputConfig(short=H, long=1000), 2 * H, flip=flip)  # short side 80: scale 2
    assert tuple(s.image.shape) == (3, 2 * H, 2 * W) and tuple(s.masks.shape) == (2, 2 * H, 2 * W)
    assert (s.meta.img_shape, s.meta.scale_factor) == ((2 * H, 2 * W), (2.0, 2.0))
    want = torch.tensor([[60.0, 10, 100, 40], [8, 44, 40, 72]] if flip else [[20.0, 10, 60, 40], [80, 44, 112, 72]])
    assert torch.equal(s.boxes, want)
    expected = _expected_masks(2)  # nearest-neighbour resize by exactly 2: every pixel doubled
    assert torch.equal(s.masks, expected.flip(-1) if flip else expected)


def test_the_long_side_caps_the_scale(record: ImageRecord) -> None:
    """short 80 would give 80 x 120; long 100 caps it: scale min(100/60, 80/40) = 5/3 -> 67 x 100."""
    s = load_sample(record, InputConfig(short=H, long=100), 80, flip=False)
    assert tuple(s.image.shape) == (3, 67, 100) and tuple(s.masks.shape[1:]) == (67, 100)
    sx, sy = 100 / 60, 67 / 40
    assert s.meta.scale_factor == pytest.approx((sx, sy))
    torch.testing.assert_close(s.boxes, torch.tensor([[10 * sx, 5 * sy, 30 * sx, 20 * sy],
                                                      [40 * sx, 22 * sy, 56 * sx, 36 * sy]]))  # fmt: skip


def test_a_batch_of_two_scales_pads_both_to_one_size(record: ImageRecord) -> None:
    cfg = InputConfig(short=H, long=1000)
    small, large = load_sample(record, cfg, H, flip=True), load_sample(record, cfg, 2 * H, flip=False)
    b = collate([small, large], divisor=32)
    assert tuple(b.images.shape) == (2, 3, 96, 128)  # 80 x 120 padded to multiples of 32
    assert b.image_sizes.tolist() == [[H, W], [2 * H, 2 * W]]
    assert b.targets.pad_shapes.tolist() == [[64, 64], [96, 128]]
    assert torch.equal(b.images[0, :, :H, :W], small.image) and not b.images[0, :, H:].any()
    assert torch.equal(b.targets.masks[:2, :H, :W], small.masks) and not b.targets.masks[:2, :, W:].any()
    assert torch.equal(b.targets.boxes[0], small.boxes) and torch.equal(b.targets.boxes[1], large.boxes)
