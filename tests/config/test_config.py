"""Configs: the six seed names, inheritance, overrides and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gnrcnn import GnrcnnError, load_config
from gnrcnn.config.loader import available_configs

from conftest import SEED_CONFIGS


def test_seed_configs_are_shipped() -> None:
    assert set(SEED_CONFIGS) <= set(available_configs())


@pytest.mark.parametrize("name", SEED_CONFIGS)
def test_seed_config_values(name: str) -> None:
    cfg = load_config(name)
    assert cfg.name == name
    assert cfg.model.backbone.depth == (101 if "r101" in name else 50)
    assert (cfg.train.epochs, cfg.train.lr_step_epochs) == ((24, [16, 22]) if "_2x" in name else (36, [28, 34]))
    contrib = "contrib" in name
    assert cfg.input.to_rgb is contrib
    assert cfg.input.std == ([58.395, 57.12, 57.375] if contrib else [1.0, 1.0, 1.0])
    assert cfg.num_classes == 80 and cfg.data.category_ids[-1] == 90
    assert cfg.model.roi.score_thr == 0.05 and cfg.model.rpn.nms_iou == 0.7


def test_user_file_inherits_by_name_and_overrides(tmp_path: Path) -> None:
    f = tmp_path / "mine.yaml"
    f.write_text("_base_: mask-rcnn_r101_fpn_gn-all_3x_coco\ninput: {short: 512}\nmodel: {roi: {nms_iou: 0.6}}\n")
    cfg = load_config(str(f), ["train.base_lr=0.01", "model.rpn.strides=[4,8,16,32,64]"])
    assert cfg.model.backbone.depth == 101 and cfg.train.epochs == 36
    assert cfg.input.short == 512 and cfg.model.roi.nms_iou == 0.6 and cfg.train.base_lr == 0.01
    child = tmp_path / "child.yaml"
    child.write_text("_base_: mine.yaml\ninput: {long: 900}\n")  # relative to the file
    cfg = load_config(str(child))
    assert (cfg.input.short, cfg.input.long, cfg.model.backbone.depth) == (512, 900, 101)


def test_exponent_notation_reads_as_a_float(tmp_path: Path) -> None:
    """YAML 1.1 (PyYAML) reads 1e-4 without a dot as a string; a float field takes it as the number."""
    f = tmp_path / "mine.yaml"
    f.write_text("_base_: mask-rcnn_r50_fpn_gn-all_2x_coco\ntrain: {weight_decay: 5e-5}\n")
    cfg = load_config(str(f), ["train.base_lr=1e-3", "train.weight_decay_norm=0", "model.rpn.nms_iou=+7E-1"])
    assert (cfg.train.weight_decay, cfg.train.base_lr, cfg.train.weight_decay_norm) == (5e-5, 1e-3, 0.0)
    assert cfg.model.rpn.nms_iou == 0.7 and isinstance(cfg.train.base_lr, float)
    with pytest.raises(GnrcnnError, match=r"train\.base_lr': expected float, got 'fast'"):
        load_config(str(f), ["train.base_lr=fast"])
    with pytest.raises(GnrcnnError, match=r"train\.epochs': expected int, got '1e2'"):
        load_config(str(f), ["train.epochs=1e2"])


@pytest.mark.parametrize(
    ("text", "overrides", "needle"),
    [
        ("_base_: mask-rcnn_r50_fpn_gn-all_2x_coco\nmodel: {backbone: {dept: 50}}\n", [], "model.backbone.dept"),
        ("_base_: mask-rcnn_r50_fpn_gn-all_2x_coco\ninput: {short: big}\n", [], "input.short"),
        ("_base_: mask-rcnn_r50_fpn_gn-all_2x_coco\nmodel: {backbone: {norm: xn}}\n", [], "model.backbone.norm"),
        ("_base_: mask-rcnn_r50_fpn_gn-all_2x_coco\n", ["train.lr=0.1"], "train.lr"),
        ("_base_: mask-rcnn_r50_fpn_gn-all_2x_coco\n", ["train.epochs=1.5"], "train.epochs"),
        ("_base_: mask-rcnn_r50_fpn_gn-all_2x_coco\n", ["model.backbone.width=48"], "multiple of 32"),
        ("_base_: no-such-config\n", [], "no-such-config"),
        ("_base_: mask-rcnn_r50_fpn_gn-all_2x_coco\nmodel: [1, 2\n", [], "not valid YAML"),
        ("_base_: bad.yaml\n", [], "circular _base_ chain"),  # the file is its own base
    ],
)
def test_bad_configs_are_one_line(tmp_path: Path, text: str, overrides: list[str], needle: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(GnrcnnError) as e:
        load_config(str(f), overrides)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(GnrcnnError, match=r"unknown config name 'mask-rcnn_r51'.*mask-rcnn_r50_fpn_gn-all_2x_coco"):
        load_config("mask-rcnn_r51")
