"""Weights of every supported origin load one-to-one, name what is wrong, and never run code."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from gnrcnn import GnrcnnError, build_model, load_config
from gnrcnn.build import build_with_weights
from gnrcnn.tools.convert import convert
from gnrcnn.weights import load_weights_file

R50 = "mask-rcnn_r50_fpn_gn-all_2x_coco"


def _random_backbone(cfg_name: str = R50) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    model = build_model(load_config(cfg_name))
    return {k: torch.randn(v.shape, generator=g) for k, v in model.state_dict().items() if k.startswith("backbone.")}


def detectron_blobs(sd: dict[str, torch.Tensor], depth: int = 50) -> dict[str, np.ndarray]:
    """Detectron's names, written from its documented convention (not from gnrcnn's mapping)."""
    blocks = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}[depth]
    blobs = {"conv1_w": sd["backbone.conv1.weight"], "conv1_gn_s": sd["backbone.norm1.weight"],
             "conv1_gn_b": sd["backbone.norm1.bias"]}  # fmt: skip
    for s, n in enumerate(blocks, start=2):
        for b in range(n):
            p = f"backbone.layer{s - 1}.{b}."
            for branch, k in (("2a", 1), ("2b", 2), ("2c", 3)):
                blobs[f"res{s}_{b}_branch{branch}_w"] = sd[f"{p}conv{k}.weight"]
                blobs[f"res{s}_{b}_branch{branch}_gn_s"] = sd[f"{p}norm{k}.weight"]
                blobs[f"res{s}_{b}_branch{branch}_gn_b"] = sd[f"{p}norm{k}.bias"]
            if b == 0:
                blobs[f"res{s}_0_branch1_w"] = sd[f"{p}downsample.0.weight"]
                blobs[f"res{s}_0_branch1_gn_s"] = sd[f"{p}downsample.1.weight"]
                blobs[f"res{s}_0_branch1_gn_b"] = sd[f"{p}downsample.1.bias"]
    out = {k: v.numpy() for k, v in blobs.items()}
    out["pred_w"], out["pred_b"] = np.zeros((1000, 2048), np.float32), np.zeros(1000, np.float32)
    out["res2_0_branch2a_w_momentum"] = np.zeros_like(out["res2_0_branch2a_w"])
    return out


def mmdet_backbone(sd: dict[str, torch.Tensor], norm_name: str = "gn") -> dict[str, torch.Tensor]:
    """open-mmlab://detectron/resnet50_gn style: ResNet keys without 'backbone.', norms named gn1.. or bn1.."""
    out = {}
    for k, v in sd.items():
        k = k.removeprefix("backbone.").replace("norm", norm_name)
        out[k] = v
    out["fc.weight"], out["fc.bias"] = torch.zeros(1000, 2048), torch.zeros(1000)
    return out


def backbone_features(model: torch.nn.Module) -> list[torch.Tensor]:
    x = torch.randn(1, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        return list(model.backbone(x).values())


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, torch.Tensor], list[torch.Tensor], Path]:
    """Random backbone weights in gnrcnn's own format, and the C2..C5 features they give."""
    sd = _random_backbone()
    path = tmp_path_factory.mktemp("fmt") / "own.pth"
    torch.save({"format": "gnrcnn", "version": 1, "config": None, "meta": {}, "model": sd}, path)
    model = build_with_weights(load_config(R50), load_weights_file(path), str(path))
    return sd, backbone_features(model), path


def _check_same_features(path: Path, want: list[torch.Tensor], fmt: str) -> None:
    loaded = load_weights_file(path)
    assert loaded.format == fmt and loaded.backbone_only
    model = build_with_weights(load_config(R50), loaded, str(path))
    for a, b in zip(backbone_features(model), want):
        assert torch.equal(a, b)


def test_detectron_pickle(reference, tmp_path: Path) -> None:
    sd, want, _ = reference
    path = tmp_path / "R-50-GN.pkl"
    path.write_bytes(pickle.dumps(detectron_blobs(sd), protocol=2))  # Detectron's files are protocol-2 pickles
    _check_same_features(path, want, "detectron")
    loaded = load_weights_file(path)
    assert set(loaded.ignored) == {"pred_w", "pred_b", "res2_0_branch2a_w_momentum"}
    wrapped = tmp_path / "model_final.pkl"  # Detectron detection files wrap the blobs
    wrapped.write_bytes(pickle.dumps({"blobs": detectron_blobs(sd)}, protocol=2))
    _check_same_features(wrapped, want, "detectron")


def test_detectron_missing_and_misshaped_blobs_are_named(reference, tmp_path: Path) -> None:
    sd, _, _ = reference
    blobs = detectron_blobs(sd)
    del blobs["res3_1_branch2b_gn_s"]
    blobs["res4_0_branch1_w"] = blobs["res4_0_branch1_w"][:10]
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(blobs, protocol=2))
    with pytest.raises(GnrcnnError) as e:
        build_with_weights(load_config(R50), load_weights_file(path), str(path))
    msg = str(e.value)
    assert "1 missing: backbone.layer2.1.norm2.weight ('res3_1_branch2b_gn_s' in the file)" in msg
    assert "backbone.layer3.0.downsample.0.weight ('res4_0_branch1_w' in the file) (file [10, 512, 1, 1]" in msg


@pytest.mark.parametrize("norm_name", ["gn", "bn"])
def test_mmdet_backbone_file(reference, tmp_path: Path, norm_name: str) -> None:
    sd, want, _ = reference
    path = tmp_path / "resnet50_gn.pth"
    torch.save({"state_dict": mmdet_backbone(sd, norm_name)}, path)
    _check_same_features(path, want, "mmdet-backbone")
    torch.save(mmdet_backbone(sd, norm_name), path)  # also without the wrapper
    _check_same_features(path, want, "mmdet-backbone")


D2_HEADS = {
    "box_head.fc": "roi_heads.box_head.fc1",
    "box_head.cls_score": "roi_heads.box_predictor.cls_score",
    "box_head.bbox_pred": "roi_heads.box_predictor.bbox_pred",
    "mask_head.upsample": "roi_heads.mask_head.deconv",
    "mask_head.logits": "roi_heads.mask_head.predictor",
}


def detectron2_names(model: torch.nn.Module) -> dict[str, str]:
    """gnrcnn key -> detectron2 name, written from detectron2's naming (not from gnrcnn's mapping)."""
    out = {"backbone.conv1.weight": "backbone.bottom_up.stem.conv1.weight",
           "backbone.norm1.weight": "backbone.bottom_up.stem.conv1.norm.weight",
           "backbone.norm1.bias": "backbone.bottom_up.stem.conv1.norm.bias"}  # fmt: skip
    for key in model.state_dict():
        parts = key.split(".")
        if key in out:
            continue
        if key.startswith("backbone.layer"):
            res = f"backbone.bottom_up.res{int(parts[1][-1]) + 1}.{parts[2]}"
            leaf = parts[-1]
            if parts[3] == "downsample":
                out[key] = f"{res}.shortcut." + ("norm." if parts[4] == "1" else "") + leaf
            elif parts[3].startswith("conv"):
                out[key] = f"{res}.{parts[3]}.{leaf}"
            else:
                out[key] = f"{res}.conv{parts[3][-1]}.norm.{leaf}"
        elif key.startswith("fpn."):
            kind = "fpn_lateral" if parts[1] == "lateral_convs" else "fpn_output"
            out[key] = f"backbone.{kind}{int(parts[2]) + 2}." + ("norm." if parts[3] == "norm" else "") + parts[-1]
        elif key.startswith("rpn.head."):
            name = {"conv": "conv", "cls_logits": "objectness_logits", "bbox_pred": "anchor_deltas"}[parts[2]]
            out[key] = f"proposal_generator.rpn_head.{name}.{parts[-1]}"
        elif key.startswith(("roi_heads.box_head.convs", "roi_heads.mask_head.convs")):
            head, name = ("box_head", "conv") if parts[1] == "box_head" else ("mask_head", "mask_fcn")
            norm = "norm." if parts[4] == "norm" else ""
            out[key] = f"roi_heads.{head}.{name}{int(parts[3]) + 1}.{norm}{parts[-1]}"
        else:
            out[key] = D2_HEADS[".".join(parts[1:3])] + "." + parts[-1]
    return out


def test_detectron2_pickle_loads_one_to_one_and_converts(tmp_path: Path) -> None:
    cfg = load_config("detectron2_mask_rcnn_R_50_FPN_3x_gn")
    model = build_model(cfg)
    names = detectron2_names(model)
    g = torch.Generator().manual_seed(5)
    tensors = {k: torch.randn(v.shape, generator=g) for k, v in model.state_dict().items()}
    blob = {"model": {names[k]: v.numpy() for k, v in tensors.items()}, "__author__": "Detectron2 Model Zoo",
            "matching_heuristics": True}  # fmt: skip
    blob["model"]["pixel_mean"] = np.zeros((3, 1, 1), np.float32)
    path = tmp_path / "model_final_dc5d9e.pkl"
    path.write_bytes(pickle.dumps(blob, protocol=2))
    loaded = load_weights_file(path)
    assert loaded.format == "detectron2" and loaded.ignored == ["pixel_mean"]
    det = build_with_weights(cfg, loaded, str(path))
    assert all(torch.equal(det.state_dict()[k], v) for k, v in tensors.items())
    out = tmp_path / "d2.pth"
    convert(str(path), str(out), "detectron2_mask_rcnn_R_50_FPN_3x_gn")
    back = load_weights_file(out)
    assert back.format == "gnrcnn" and all(torch.equal(back.state_dict[k], v) for k, v in tensors.items())
    del blob["model"]["roi_heads.mask_head.mask_fcn3.norm.bias"]
    path.write_bytes(pickle.dumps(blob, protocol=2))
    with pytest.raises(GnrcnnError, match=r"1 missing: roi_heads\.mask_head\.convs\.2\.norm\.bias"):
        build_with_weights(cfg, load_weights_file(path), str(path))


def test_format_is_told_by_content_not_name(reference, tmp_path: Path) -> None:
    sd, want, _ = reference
    misleading = tmp_path / "weights.pth"  # a Detectron pickle under a .pth name
    misleading.write_bytes(pickle.dumps(detectron_blobs(sd), protocol=2))
    _check_same_features(misleading, want, "detectron")
    other = tmp_path / "weights.pkl"  # an MMDetection backbone under a .pkl name
    torch.save(mmdet_backbone(sd), other)
    _check_same_features(other, want, "mmdet-backbone")


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_malicious_pickle_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for protocol in (2, 4):
        path = tmp_path / f"evil{protocol}.pkl"
        path.write_bytes(pickle.dumps({"blobs": {"conv1_w": _Exploit(marker)}}, protocol=protocol))
        with pytest.raises(GnrcnnError, match=r"refusing to load '[\w.]+': only plain data may be unpickled"):
            load_weights_file(path)
        assert not marker.exists()
    evil_torch = tmp_path / "evil.pth"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "hook": _Exploit(marker)}, evil_torch)
    with pytest.raises(GnrcnnError, match="refused to load"):
        load_weights_file(evil_torch)
    assert not marker.exists()


def test_backbone_weights_for_training(reference, tmp_path: Path) -> None:
    from gnrcnn.build import build_for_training

    sd, want, _ = reference
    path = tmp_path / "R-50-GN.pkl"
    path.write_bytes(pickle.dumps(detectron_blobs(sd), protocol=2))
    model = build_for_training(load_config(R50), None, str(path), verbose=False)
    for a, b in zip(backbone_features(model), want):
        assert torch.equal(a, b)
    with pytest.raises(GnrcnnError, match="backbone only; pass it as --backbone-weights"):
        build_for_training(load_config(R50), str(path), None, verbose=False)
