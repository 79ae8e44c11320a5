"""Fine-tuning to other classes: everything but the class-specific layers is loaded, those are re-initialised
with one line naming them; training a seed config starts from its published backbone unless told otherwise."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch

from gnrcnn import build_model, load_config, zoo
from gnrcnn.build import CLASS_SPECIFIC, build_for_training
from gnrcnn.cli import main
from gnrcnn.config.schema import Config, DataConfig
from gnrcnn.modeling.norm import norm_layer
from gnrcnn.modeling.resnet import ResNet
from gnrcnn.weights import gnrcnn_checkpoint, load_weights_file

from conftest import TINY
from weights_server import serve, sha256

SHAPES_A = ["circle", "triangle", "rectangle"]
SHAPES_B = ["star", "hexagon", "cross"]
LAYERS = "roi_heads.box_head.cls_score, roi_heads.box_head.bbox_pred, roi_heads.mask_head.logits"


def _tiny(classes: list[str]) -> Config:
    cfg = load_config(str(TINY))
    return dataclasses.replace(cfg, data=DataConfig(class_names=classes, category_ids=list(range(1, len(classes) + 1))))


@pytest.fixture(scope="module")
def checkpoint_a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model 'trained' on the first three shapes (random weights: only the mechanics matter)."""
    torch.manual_seed(1)
    cfg = _tiny(SHAPES_A)
    path = tmp_path_factory.mktemp("ft") / "shapes_a.pth"
    torch.save(gnrcnn_checkpoint(build_model(cfg), cfg.to_dict()), path)
    return path


@pytest.mark.parametrize("classes", [SHAPES_B, ["star", "hexagon"]], ids=["same-count", "fewer"])
def test_other_classes_reinitialise_the_class_layers(checkpoint_a: Path, classes: list[str], capsys) -> None:
    model = build_for_training(_tiny(classes), str(checkpoint_a), None, verbose=True)
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    was = "the checkpoint's 3 classes: circle, triangle, rectangle"
    assert notes == [f"note: {checkpoint_a}: re-initialised {LAYERS} for {len(classes)} classes "
                     f"({', '.join(classes)}); {was}"]  # fmt: skip
    theirs = load_weights_file(checkpoint_a).state_dict
    for k, v in model.state_dict().items():
        if k.startswith(CLASS_SPECIFIC):  # freshly drawn (biases start at 0 both times)
            assert k.endswith("bias") or v.shape[0] != theirs[k].shape[0] or not torch.equal(v, theirs[k]), k
        else:
            assert torch.equal(v, theirs[k]), k


def test_the_same_classes_keep_everything(checkpoint_a: Path, capsys) -> None:
    model = build_for_training(_tiny(SHAPES_A), str(checkpoint_a), None, verbose=True)
    assert "note:" not in capsys.readouterr().out
    theirs = load_weights_file(checkpoint_a).state_dict
    assert all(torch.equal(v, theirs[k]) for k, v in model.state_dict().items())


def test_train_cli_fine_tunes_from_a_url(checkpoint_a: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    from gnrcnn.data.shapes import make_shapes

    monkeypatch.setenv("GNRCNN_CACHE", str(tmp_path / "cache"))
    make_shapes(tmp_path / "b", train=2, val=1, size=128, seed=3, classes=SHAPES_B)
    data = checkpoint_a.read_bytes()
    name = f"shapes_a-{sha256(data)[:8]}.pth"
    with serve({f"/{name}": data}) as srv:
        args = ["train", "--config", str(TINY), "--weights", f"{srv.url}/{name}", "--data-root", str(tmp_path / "b"),
                "--ann", str(tmp_path / "b/annotations/train.json"), "--work-dir", str(tmp_path / "w"),
                "--max-iters", "1", "--batch-size", "1"]  # fmt: skip
        assert main(args) == 0
    out = capsys.readouterr().out
    assert f"re-initialised {LAYERS} for 3 classes (star, hexagon, cross)" in out
    final = load_weights_file(tmp_path / "w" / "model_final.pth")
    assert final.config["data"]["class_names"] == SHAPES_B
    cats = json.loads((tmp_path / "b/annotations/train.json").read_text())["categories"]
    assert [c["name"] for c in cats] == SHAPES_B


def _mmdet_backbone() -> dict[str, torch.Tensor]:
    """An R-50 ImageNet backbone in MMDetection's format (``open-mmlab://detectron/resnet50_gn``'s keys)."""
    g = torch.Generator().manual_seed(5)
    sd = ResNet(depth=50, norm=norm_layer("gn")).state_dict()
    out = {k.replace("norm", "gn"): torch.randn(v.shape, generator=g) for k, v in sd.items()}
    out["fc.weight"], out["fc.bias"] = torch.zeros(1000, 2048), torch.zeros(1000)
    return out


def test_a_seed_config_trains_from_its_published_backbone(tmp_path: Path, monkeypatch, capsys) -> None:
    r50 = "mask-rcnn_r50_fpn_gn-all_2x_coco"
    src = tmp_path / "backbone.pth"
    torch.save(_mmdet_backbone(), src)
    data = src.read_bytes()
    real = next(b for b in zoo.BACKBONES if b.name == "open-mmlab://detectron/resnet50_gn")
    url = real.url.replace("9186a21c", sha256(data)[:8])  # the real name cannot be forged (test_published.py)
    monkeypatch.setattr(zoo, "BACKBONES", tuple(dataclasses.replace(b, url=url) if b is real else b
                                                for b in zoo.BACKBONES))  # fmt: skip
    monkeypatch.setenv("GNRCNN_CACHE", str(tmp_path / "cache"))
    with serve({urlsplit(url).path: data}) as mirror:
        monkeypatch.setenv("GNRCNN_WEIGHTS_MIRROR", mirror.url)
        model = build_for_training(load_config(r50), None, None, verbose=True)
    out = capsys.readouterr().out
    assert "backbone: open-mmlab://detectron/resnet50_gn, as the published recipe" in out
    sd = model.state_dict()
    assert torch.equal(sd["backbone.layer3.5.norm2.weight"], torch.load(src)["layer3.5.gn2.weight"])
    # From scratch is explicit for a seed config, and the default for a config of your own: no download.
    build_for_training(load_config(r50), None, "none", verbose=True)
    build_for_training(load_config(str(TINY)), None, None, verbose=True)
    assert capsys.readouterr().out.count("training FROM SCRATCH") == 2
