"""Negative (empty) images: kept only with --keep-empty, background for every anchor and proposal, no mask
loss, finite losses for a batch of nothing but negatives; check-data counts them and refuses data with
nothing to train on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gnrcnn import load_config
from gnrcnn.cli import main
from gnrcnn.data.check import report
from gnrcnn.data.coco import CocoDataset
from gnrcnn.data.shapes import make_shapes
from gnrcnn.data.train_data import collate, load_sample
from gnrcnn.errors import GnrcnnError
from gnrcnn.modeling import MaskRCNN
from gnrcnn.modeling.roi_targets import label_and_sample_proposals
from gnrcnn.modeling.rpn import label_and_sample_anchors
from gnrcnn.structures import Targets

from conftest import TINY


@pytest.fixture(scope="module")
def with_negatives(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 images of shapes and 3 of background alone (no annotation), 128 px."""
    root = tmp_path_factory.mktemp("negatives")
    make_shapes(root, train=4, val=2, size=128, seed=1, empty=3)
    return root


def empty_targets(n: int, size: int = 64) -> Targets:
    return Targets([torch.zeros((0, 4))] * n, [torch.zeros((0,), dtype=torch.int64)] * n,
                   torch.zeros((0, size, size), dtype=torch.uint8), torch.full((n, 2), float(size)))  # fmt: skip


def test_empty_images_are_kept_only_when_asked(with_negatives: Path) -> None:
    ann = with_negatives / "annotations" / "train.json"
    assert len(CocoDataset(ann, with_negatives)) == 4
    kept = CocoDataset(ann, with_negatives, keep_empty=True)
    assert len(kept) == 7 and kept.num_empty == 3
    assert sorted(len(r.labels) for r in kept.records)[:3] == [0, 0, 0]
    cfg = load_config(str(TINY))
    sample = load_sample(next(r for r in kept.records if not len(r.labels)), cfg.input, 128, True)
    assert sample.boxes.shape == (0, 4) and sample.masks.shape == (0, 128, 128)


def test_anchors_and_proposals_of_an_empty_image_are_all_background() -> None:
    cfg = load_config(str(TINY)).model
    anchors = torch.rand(500, 4) * 40
    anchors[:, 2:] += anchors[:, :2] + 4
    s = label_and_sample_anchors(anchors, torch.ones((2, 500), dtype=torch.bool), empty_targets(2), cfg.rpn)
    assert not s.pos.any() and s.deltas.shape == (0, 4)
    assert s.neg.sum(dim=1).tolist() == [cfg.rpn.batch_per_image] * 2
    t = empty_targets(2)
    r = label_and_sample_proposals(anchors[:300], torch.arange(300) % 2, t.padded(), num_classes=3, cfg=cfg.roi)
    assert r.num_pos == 0 and bool((r.labels == 3).all()) and len(r.labels) == 2 * cfg.roi.batch_per_image


def test_a_batch_of_only_negatives_gives_finite_losses_and_gradients(with_negatives: Path) -> None:
    cfg = load_config(str(TINY))
    ds = CocoDataset(with_negatives / "annotations" / "train.json", with_negatives, keep_empty=True)
    empties = [r for r in ds.records if not len(r.labels)][:2]
    batch = collate([load_sample(r, cfg.input, 128, False) for r in empties])
    torch.manual_seed(0)
    model = MaskRCNN(cfg.model, 3).train()
    mean = torch.tensor(cfg.input.mean)[None, :, None, None]
    losses = model(batch.images.float() - mean, batch.image_sizes, batch.targets)
    assert set(losses) == {"loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox", "loss_mask"}
    v = {k: float(x.detach()) for k, x in losses.items()}
    assert all(torch.isfinite(torch.tensor(list(v.values()))))
    assert v["loss_rpn_cls"] > 0 and v["loss_cls"] > 0  # background is learnt
    assert v["loss_mask"] == 0 and v["loss_rpn_bbox"] == 0 and v["loss_bbox"] == 0
    sum(losses.values()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)  # every parameter takes part (DDP)
    assert float(model.roi_heads.mask_head.logits.weight.grad.abs().sum()) == 0  # no mask loss


def test_check_data_counts_empty_images_and_refuses_nothing_to_train_on(with_negatives: Path, tmp_path: Path) -> None:
    ann = with_negatives / "annotations" / "train.json"
    text, code = report(ann, with_negatives)
    assert code == 0 and "3 image(s) without annotations: left out" in text
    text, code = report(ann, with_negatives, keep_empty=True)
    assert code == 0 and "used as negatives" in text and "7 usable images" in text
    data = json.loads(ann.read_text())
    data["annotations"] = []
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(data))
    text, code = report(bare, with_negatives)
    assert code == 1 and "0 usable images" in text and text.endswith("training would stop")
    text, code = report(bare, with_negatives, keep_empty=True)
    assert code == 1 and "no annotated instance" in text
    assert main(["check-data", "--data-root", str(with_negatives), "--ann", str(bare), "--no-decode"]) == 1
    with pytest.raises(GnrcnnError, match="--keep-empty"):
        CocoDataset(bare, with_negatives).raise_if_errors()
