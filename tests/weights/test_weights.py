"""The six seed models map one-to-one onto MMDetection's state dicts; conversion round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gnrcnn import GnrcnnError, build_model, load_config, load_model
from gnrcnn.tools.convert import convert
from gnrcnn.weights import load_weights_file, mmdet
from gnrcnn.weights.reference import manifest

from conftest import SEED_CONFIGS


@pytest.mark.parametrize("name", SEED_CONFIGS)
def test_parameter_count_and_one_to_one_mapping(name: str, tmp_path: Path) -> None:
    man = manifest(name)
    model = build_model(load_config(name))
    assert sum(p.numel() for p in model.parameters()) == man["total_params"]
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == man["trainable_params"]
    mapped = {mmdet.map_key(k): tuple(s) for k, s in man["state_dict"]}
    assert len(mapped) == man["num_state_dict_entries"]  # no two reference keys collapse into one
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert mapped == ours
    frozen = {mmdet.map_key(k) for k in man["frozen_param_keys"]}
    assert frozen == {k for k, p in model.named_parameters() if not p.requires_grad}


def random_state_dict(name: str) -> dict[str, torch.Tensor]:
    """Random tensors of the manifest's shapes (fast; the values only need to be distinct)."""
    g = torch.Generator().manual_seed(7)
    return {k: torch.randn(tuple(s), generator=g) for k, s in manifest(name)["state_dict"]}


@pytest.mark.parametrize("name", SEED_CONFIGS)
def test_mmdet_checkpoint_loads_and_converts_bit_exactly(name: str, tmp_path: Path) -> None:
    sd = random_state_dict(name)
    src = tmp_path / "mmdet.pth"
    torch.save({"state_dict": sd, "meta": {"CLASSES": ("person",) * 80, "epoch": 24}}, src)
    det = load_model(name, weights=src)
    loaded = det.model.state_dict()
    assert all(torch.equal(loaded[mmdet.map_key(k)], v) for k, v in sd.items())
    out = tmp_path / "gnrcnn.pth"
    convert(str(src), str(out), name)
    back = load_weights_file(out)
    assert back.format == "gnrcnn" and back.config["name"] == name
    assert set(back.state_dict) == set(loaded)
    assert all(torch.equal(back.state_dict[k], v) for k, v in loaded.items())
    again = load_model(weights=out)  # the config travels inside the checkpoint
    assert again.cfg.input.to_rgb == ("contrib" in name)
    assert all(torch.equal(again.model.state_dict()[k], v) for k, v in loaded.items())


def test_convert_guesses_the_seed_config(tmp_path: Path) -> None:
    src = tmp_path / "r101.pth"
    torch.save({"state_dict": random_state_dict("mask-rcnn_r101_fpn_gn-all_2x_coco"), "meta": {}}, src)
    msg = convert(str(src), str(tmp_path / "out.pth"))
    assert "mask-rcnn_r101_fpn_gn-all_2x_coco" in msg


def test_another_architecture_is_a_readable_diff(tmp_path: Path) -> None:
    src = tmp_path / "r101.pth"
    torch.save({"state_dict": random_state_dict("mask-rcnn_r101_fpn_gn-all_2x_coco"), "meta": {}}, src)
    with pytest.raises(GnrcnnError) as e:
        load_model("mask-rcnn_r50_fpn_gn-all_2x_coco", weights=src)
    msg = str(e.value)
    assert "unexpected" in msg and "backbone.layer3.6.conv1.weight" in msg and "\n" not in msg


def test_wrong_shapes_and_missing_keys_are_named(tmp_path: Path) -> None:
    sd = random_state_dict("mask-rcnn_r50_fpn_gn-all_2x_coco")
    sd["roi_head.bbox_head.fc_cls.weight"] = torch.zeros(4, 1024)
    del sd["neck.fpn_convs.0.gn.bias"]
    src = tmp_path / "broken.pth"
    torch.save({"state_dict": sd}, src)
    with pytest.raises(GnrcnnError) as e:
        load_model("mask-rcnn_r50_fpn_gn-all_2x_coco", weights=src)
    msg = str(e.value)
    assert "1 missing: fpn.fpn_convs.0.norm.bias" in msg
    assert (
        "roi_heads.box_head.cls_score.weight ('roi_head.bbox_head.fc_cls.weight' in the file) (file [4, 1024] vs model"
        in msg
    )


def test_code_carrying_checkpoint_is_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    src = tmp_path / "evil.pth"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "payload": Evil()}, src)
    with pytest.raises(GnrcnnError, match="refused to load"):
        load_weights_file(src)
