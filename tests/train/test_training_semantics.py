"""What a training step means: evaluation leaves training alone, accumulation, fine-tuning, weight decay, norms."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torchvision.ops import FrozenBatchNorm2d

from gnrcnn import load_config
from gnrcnn.build import build_for_training, build_model
from gnrcnn.config.schema import Config, DataConfig
from gnrcnn.data.train_data import Batch, Sample, TrainDataset, collate
from gnrcnn.fileio import save_torch_atomic
from gnrcnn.modeling import MaskRCNN
from gnrcnn.modeling.roi_targets import label_and_sample_proposals
from gnrcnn.modeling.rpn import label_and_sample_anchors
from gnrcnn.train.setup import make_optimizer
from gnrcnn.train.trainer import TrainArgs, Trainer
from gnrcnn.weights import gnrcnn_checkpoint

from conftest import TINY


def _floating(obj: Any, where: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """Every floating-point tensor in a nested checkpoint, with its path."""
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point():
            yield where, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _floating(v, f"{where}/{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _floating(v, f"{where}/{i}")


def _log(work: Path) -> list[dict]:
    """The training lines of ``metrics.jsonl`` (evaluations and the data record are lines of their own)."""
    lines = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    return [r for r in lines if "loss" in r]


SMALL = ["input.short=64", "input.long=64"]


@pytest.fixture(scope="module")
def two_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 64 x 64 training images (with 2 and 6 shapes) and one validation image."""
    from gnrcnn.data.shapes import make_shapes

    root = tmp_path_factory.mktemp("two_images")
    make_shapes(root, train=2, val=1, size=64, seed=0)
    return root


# One image per step, two steps per epoch, 3 steps: an evaluation after step 2 (epoch 1) and, with a
# validation set, one at the end. bf16 is where evaluation used to change the model (cast it in place).
BF16_ITERS = 3


def _train_bf16(root: Path, work: Path, with_validation: bool) -> None:
    every = ["train.eval_every_epochs=1"] if with_validation else []  # evaluations need a validation set
    cfg = load_config(str(TINY), ["train.images_per_gpu=1", *every, *SMALL])
    val = {"val_ann": str(root / "annotations" / "val.json")} if with_validation else {}
    args = TrainArgs(data_root=str(root), ann=str(root / "annotations" / "train.json"), work_dir=str(work),
                     max_iters=BF16_ITERS, amp="bf16", **val)  # fmt: skip
    Trainer(cfg, args).train()


@pytest.fixture(scope="module")
def bf16_runs(two_images: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same bf16 run twice: with a validation set (evaluated mid-run and at the end) and without."""
    with_val, without = tmp_path_factory.mktemp("bf16_val"), tmp_path_factory.mktemp("bf16_noval")
    _train_bf16(two_images, with_val, True)
    _train_bf16(two_images, without, False)
    return with_val, without


def test_bf16_training_with_validation_saves_only_fp32_tensors(bf16_runs: tuple[Path, Path]) -> None:
    """The bug of issue 11: evaluation in bf16 cast the training model's weights to bf16 in place."""
    work, _ = bf16_runs
    assert (work / "eval" / "epoch_1" / "metrics.json").exists() and (work / "eval" / "final").is_dir()
    last = sorted(work.glob("iter_*.pth"))[-1]
    assert last.name == f"iter_{BF16_ITERS:08d}.pth"
    for path in (work / "model_final.pth", last):
        tensors = list(_floating(torch.load(path, weights_only=True)))
        assert len(tensors) > 100, path  # the weights (and in iter_*, the optimizer's momentum) were found
        wrong = [f"{k}: {v.dtype}" for k, v in tensors if v.dtype != torch.float32]
        assert not wrong, f"{path.name}: {len(wrong)} tensors not float32, e.g. {wrong[:3]}"


def test_an_evaluation_mid_run_changes_nothing_in_training(bf16_runs: tuple[Path, Path]) -> None:
    """N iterations with an evaluation in the middle: bit-identical losses and weights to N without."""
    with_val, without = bf16_runs
    a, b = _log(with_val), _log(without)
    assert [r["iter"] for r in a] == [r["iter"] for r in b] == list(range(1, BF16_ITERS + 1))
    for ra, rb in zip(a, b):
        assert {k: v for k, v in ra.items() if k.startswith("loss")} == {k: v for k, v in rb.items()
                                                                        if k.startswith("loss")}  # fmt: skip
    wa = torch.load(with_val / "model_final.pth", weights_only=True)["model"]
    wb = torch.load(without / "model_final.pth", weights_only=True)["model"]
    assert wa.keys() == wb.keys()
    differ = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]}"


# ---------------------------------------------------------------- gradient accumulation
def _trainer(root: Path, work: Path, overrides: list[str], **kw: Any) -> Trainer:
    cfg = load_config(str(TINY), [*SMALL, *overrides])
    args = TrainArgs(data_root=str(root), ann=str(root / "annotations" / "train.json"), work_dir=str(work), **kw)
    return Trainer(cfg, args)


def _samples(trainer: Trainer) -> list[Sample]:
    """The two training images, unflipped, at their own size (64): equal sizes, so equal padding."""
    ds = TrainDataset(trainer.dataset, trainer.cfg.input)
    return [ds[(i, False, 64, 0)] for i in range(2)]  # (index, flip, short side, epoch)


def _losses(trainer: Trainer, batch: Batch) -> dict[str, torch.Tensor]:
    return trainer.model(trainer.normalizer.normalize(batch.images, batch.image_sizes), batch.image_sizes,
                         batch.targets)  # fmt: skip


def _grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_accumulating_two_single_image_batches_averages_their_gradients(two_images: Path, tmp_path: Path) -> None:
    """``--accumulate 2`` at 1 image per step: the optimizer sees (grad L(a) + grad L(b)) / 2, where L(x)
    is image x's total loss in a batch of its own, and the step logs the mean of the two images' losses.
    (How that differs from one batch of both images: the next test, and docs/training.md.)"""
    trainer = _trainer(two_images, tmp_path, ["train.images_per_gpu=1", "train.accumulate=2"], max_iters=1)
    batches = [collate([s]) for s in _samples(trainer)]
    rng = torch.get_rng_state()  # the step samples anchors and RoIs from the same generator, image after image
    singles, values = [], []
    for b in batches:
        losses = _losses(trainer, b)
        sum(losses.values()).backward()
        singles.append(_grads(trainer.model))
        values.append({k: float(v.detach()) for k, v in losses.items()})
        trainer.model.zero_grad(set_to_none=True)
    torch.set_rng_state(rng)
    seen: dict[str, torch.Tensor] = {}
    trainer.optimizer.register_step_pre_hook(lambda opt, args, kwargs: seen.update(_grads(trainer.model)))
    logged = trainer.step(batches)
    assert seen.keys() == singles[0].keys() and len(seen) > 50
    for name, g in seen.items():
        torch.testing.assert_close(g, (singles[0][name] + singles[1][name]) / 2, rtol=1e-5, atol=1e-9)
    for k in values[0]:
        assert logged[k] == pytest.approx((values[0][k] + values[1][k]) / 2, rel=1e-6), k


# Every candidate anchor and RoI is sampled (the quotas exceed their counts): no random draw, so a
# batch of two and the two single images sample exactly the same anchors and RoIs.
TAKE_ALL = ["model.rpn.batch_per_image=100000", "model.rpn.pos_fraction=0.5", "model.roi.batch_per_image=100000",
            "model.roi.pos_fraction=0.5"]  # fmt: skip


def _per_image_counts(model: MaskRCNN, rpn_in: tuple, roi_in: tuple) -> dict[str, torch.Tensor]:
    """Each loss's normaliser per image of a batch: sampled anchors (RPN losses), sampled RoIs (box
    classification and regression), positive RoIs (mask: their pixels)."""
    feats, _, targets = rpn_in
    rpn = model.rpn
    shapes = [tuple(feats[k].shape[-2:]) for k in rpn.in_features]
    anchors = torch.cat(rpn.anchor_generator(shapes, targets.masks.device))
    valid = torch.cat(rpn.anchor_generator.valid_mask(shapes, targets.pad_shapes), dim=1)
    a = label_and_sample_anchors(anchors, valid, targets, rpn.cfg)
    n = (a.pos | a.neg).sum(dim=1)
    _, proposals, _, targets = roi_in
    s = label_and_sample_proposals(proposals.boxes, proposals.image_ids, targets.padded(),
                                   num_classes=model.num_classes, cfg=model.roi_heads.cfg)  # fmt: skip
    image = s.rois[:, 0].long()
    r, p = torch.bincount(image, minlength=2), torch.bincount(image[: s.num_pos], minlength=2)
    return {"loss_rpn_cls": n, "loss_rpn_bbox": n, "loss_cls": r, "loss_bbox": r, "loss_mask": p}


def test_one_batch_of_two_weights_each_image_by_its_sample_counts(two_images: Path, tmp_path: Path) -> None:
    """One batch of both images (same size, so the same padding) divides each loss by the batch's total
    count c (sampled anchors for the RPN, sampled RoIs for the box losses, positive RoIs for the mask),
    so it equals the count-weighted mean (c_a L_a + c_b L_b) / (c_a + c_b) of the single-image losses,
    and its gradient the same combination of theirs. Accumulation gives the plain mean instead: the two
    agree only where c_a = c_b. Rounding aside (a batch's convolutions sum in another order), this is
    exact once sampling draws nothing at random."""
    trainer = _trainer(two_images, tmp_path, ["train.images_per_gpu=2", *TAKE_ALL], max_iters=1)
    model = trainer.model
    samples = _samples(trainer)
    inputs: dict[str, tuple] = {}
    model.rpn.register_forward_pre_hook(lambda m, args: inputs.update(rpn=args))
    model.roi_heads.register_forward_pre_hook(lambda m, args: inputs.update(roi=args))
    pair = _losses(trainer, collate(samples))
    counts = _per_image_counts(model, inputs["rpn"], inputs["roi"])
    values = {k: float(v.detach()) for k, v in pair.items()}
    sum(pair.values()).backward()
    g_pair = _grads(model)
    model.zero_grad(set_to_none=True)
    singles = []
    for i, sample in enumerate(samples):
        losses = _losses(trainer, collate([sample]))
        singles.append({k: float(v.detach()) for k, v in losses.items()})
        sum(v * float(counts[k][i] / counts[k].sum()) for k, v in losses.items()).backward()  # grads add up
    g_singles = _grads(model)
    for k, c in counts.items():
        la, lb = singles[0][k], singles[1][k]
        weighted = (float(c[0]) * la + float(c[1]) * lb) / float(c.sum())
        assert values[k] == pytest.approx(weighted, rel=1e-4), (k, c.tolist(), la, lb)  # measured: ~1e-7
    # The data make the difference visible: the counts differ (2 and 6 shapes), and where the losses
    # differ too, the plain mean misses the batch's value by far more than the tolerance.
    assert all(int(c[0]) != int(c[1]) for c in counts.values()), counts
    off = {k: abs(values[k] - (singles[0][k] + singles[1][k]) / 2) / values[k] for k in counts}
    assert max(off.values()) > 0.05, off
    flat_pair = torch.cat([g.flatten() for g in g_pair.values()])
    flat_singles = torch.cat([g_singles[k].flatten() for k in g_pair])
    # A batch's convolutions round differently from a single image's, and GN's gradients cancel a lot:
    # even a batch of one image twice differs from that image alone by ~1e-3 of the gradient's norm
    # (measured); a factor of 2 anywhere would be 0.5.
    assert float((flat_pair - flat_singles).norm() / flat_pair.norm()) < 1e-2


# ---------------------------------------------------------------- fine-tuning to another class count
CLASS_SPECIFIC = {f"roi_heads.{layer}.{p}" for layer in ("box_head.cls_score", "box_head.bbox_pred", "mask_head.logits")
                  for p in ("weight", "bias")}  # fmt: skip


def _with_classes(n: int) -> Config:
    cfg = load_config(str(TINY), SMALL)
    return dataclasses.replace(cfg, data=DataConfig(class_names=[f"c{i}" for i in range(n)],
                                                    category_ids=list(range(1, n + 1))))  # fmt: skip


@pytest.fixture(scope="module")
def three_class_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    torch.manual_seed(1)
    model = build_model(_with_classes(3))
    path = tmp_path_factory.mktemp("finetune") / "three.pth"
    save_torch_atomic(gnrcnn_checkpoint(model, _with_classes(3).to_dict()), path)
    return path, {k: v.clone() for k, v in model.state_dict().items()}


def test_fine_tuning_to_five_classes_reinitialises_exactly_the_class_specific_layers(
    three_class_checkpoint: tuple[Path, dict[str, torch.Tensor]], capsys: pytest.CaptureFixture
) -> None:
    path, source = three_class_checkpoint
    cfg = _with_classes(5)
    torch.manual_seed(2)
    fresh = build_model(cfg).state_dict()  # what a random initialisation with this generator state gives
    torch.manual_seed(2)
    tuned = build_for_training(cfg, str(path), None, verbose=True).state_dict()
    assert tuned.keys() == source.keys()
    assert {k for k in tuned if tuned[k].shape != source[k].shape} == CLASS_SPECIFIC
    assert tuned["roi_heads.box_head.cls_score.weight"].shape[0] == 6  # 5 classes + background
    assert tuned["roi_heads.box_head.bbox_pred.weight"].shape[0] == 4 * 5
    assert tuned["roi_heads.mask_head.logits.bias"].shape == (5,)
    for k in CLASS_SPECIFIC:
        assert torch.equal(tuned[k], fresh[k]), k  # a fresh initialisation, not left empty or zero
    kept = [k for k in tuned if k not in CLASS_SPECIFIC]
    differ = [k for k in kept if not torch.equal(tuned[k], source[k])]
    assert not differ, f"not loaded bit-exactly: {differ[:5]}"
    # the check has teeth: every loaded conv and linear weight differs from a fresh initialisation's
    assert all(not torch.equal(source[k], fresh[k]) for k in kept if source[k].dim() > 1)
    printed = capsys.readouterr().out
    assert ("re-initialised roi_heads.box_head.cls_score, roi_heads.box_head.bbox_pred, roi_heads.mask_head.logits "
            "for 5 classes") in printed  # fmt: skip


def test_fine_tuning_to_the_same_class_count_loads_everything(
    three_class_checkpoint: tuple[Path, dict[str, torch.Tensor]], capsys: pytest.CaptureFixture
) -> None:
    path, source = three_class_checkpoint
    torch.manual_seed(2)
    tuned = build_for_training(_with_classes(3), str(path), None, verbose=True).state_dict()
    assert all(torch.equal(tuned[k], source[k]) for k in source)
    assert "re-initialised" not in capsys.readouterr().out


# ---------------------------------------------------------------- weight decay of norm layers
def _is_norm_parameter(name: str) -> bool:
    """By name: norm1/norm2/norm of every block, the stem's norm1 and each shortcut's norm (downsample.1)."""
    return re.search(r"(\.norm\d?|\.downsample\.1)\.(weight|bias)$", name) is not None


@pytest.mark.parametrize("norm", ["gn", "bn"])
@pytest.mark.parametrize("decay_norm", [0.0, 5e-5])
def test_weight_decay_norm_gives_norm_parameters_their_own_decay(norm: str, decay_norm: float) -> None:
    cfg = load_config(str(TINY), [*SMALL, *(f"model.{p}.norm={norm}" for p in ("backbone", "fpn", "roi")),
                                  f"train.weight_decay_norm={decay_norm}"])  # fmt: skip
    model = build_model(cfg)
    names = {id(p): n for n, p in model.named_parameters()}
    groups = [(g["weight_decay"], {names[id(p)] for p in g["params"]}) for g in make_optimizer(model, cfg).param_groups]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    norms = {n for n in trainable if _is_norm_parameter(n)}
    # 31 trainable norm layers (weight and bias each): 5 in each of stages 2-4, 8 in the FPN, 8 in the
    # RoI heads; the stem's and stage 1's are frozen (no gradient, in no group).
    assert len(norms) == 2 * 31
    assert groups == [(1e-4, trainable - norms), (decay_norm, norms)]


def test_negative_weight_decay_norm_means_one_group() -> None:
    cfg = load_config(str(TINY), SMALL)
    assert cfg.train.weight_decay_norm < 0  # the default, as MMDetection
    model = build_model(cfg)
    (group,) = make_optimizer(model, cfg).param_groups
    assert group["weight_decay"] == 1e-4
    assert {id(p) for p in group["params"]} == {id(p) for p in model.parameters() if p.requires_grad}


# ---------------------------------------------------------------- other norms
@pytest.mark.parametrize("norm", ["bn", "frozen_bn", "none"])
def test_other_norms_build_and_train_a_step(norm: str, two_images: Path, tmp_path: Path) -> None:
    over = [*(f"model.{p}.norm={norm}" for p in ("backbone", "fpn", "roi")), "train.images_per_gpu=2"]
    trainer = _trainer(two_images, tmp_path, over, max_iters=1)
    model = trainer.model
    kinds = {type(m) for m in model.modules()}
    assert not any(issubclass(k, torch.nn.GroupNorm) for k in kinds)
    want = {"bn": torch.nn.BatchNorm2d, "frozen_bn": FrozenBatchNorm2d, "none": None}[norm]
    if want is None:
        assert not any(issubclass(k, (torch.nn.BatchNorm2d, FrozenBatchNorm2d)) for k in kinds)
        assert all(c.bias is not None for c in model.modules() if isinstance(c, torch.nn.Conv2d))  # biases instead
    else:
        assert sum(isinstance(m, want) for m in model.modules()) == 36  # stem 1, stages 4 x 5 - 1, FPN 8, RoI heads 8
    params = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    buffers = {n: b.clone() for n, b in model.named_buffers() if n.endswith("running_mean")}
    (batch,) = [b for _, b in zip(range(1), trainer.loader)]
    losses = trainer.step([batch])
    assert all(np.isfinite(v) and v > 0 for k, v in losses.items() if k.startswith("loss")), losses
    moved = [n for n, p in model.named_parameters() if n in params and not torch.equal(p, params[n])]
    # Every trainable parameter took a step, but the bias at the end of P5's output conv: at 64 px no
    # RoI maps to P5 and the RPN may sample none of its 12 anchors, so nothing may reach it (it starts at 0).
    assert set(params) - set(moved) <= {"fpn.fpn_convs.3.conv.bias", "fpn.fpn_convs.3.norm.bias"}
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
    running = [n for n, b in model.named_buffers() if n in buffers and not torch.equal(b, buffers[n])]
    # BN updates its running statistics in training; frozen BN never does (GN and none have none)
    assert (len(running) > 0) == (norm == "bn") and (norm != "frozen_bn" or len(buffers) == 36)
