"""``gnrcnn study detect-pretrained`` at a tiny size: the pretrained backbones load through
``--backbone-weights`` (BN's running averages into FrozenBatchNorm for BN*), each variant gets its norms,
an interrupted fine-tuning resumes, finished backbones and runs are skipped, the table and the plot."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
import torch
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from gnrcnn.build import build_for_training
from gnrcnn.errors import GnrcnnError
from gnrcnn.study import detect_pretrained as study
from gnrcnn.study.norm_vs_batch import run_config, train_run


def _norms(module: nn.Module) -> set[type]:
    return {type(m) for m in module.modules() if isinstance(m, (nn.GroupNorm, nn.BatchNorm2d, FrozenBatchNorm2d))}


def test_backbones_load_through_backbone_weights_and_variants_resume(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    from gnrcnn.cli import main

    plan, out = study.QUICK, tmp_path / "s"
    records = {n: study.pretrain(plan, out, n) for n in ("bn", "gn")}
    assert all(0 <= r["error"] <= 100 and r["depth"] == 18 for r in records.values())
    saved = torch.load(records["bn"]["weights"], weights_only=True)
    assert "backbone.norm1.running_var" in saved and not any(k.endswith("num_batches_tracked") for k in saved)
    models = {}
    for name in ("bn_star", "gn_backbone", "gn_all"):
        v = study.variant(plan, out, name, 0)
        models[name] = build_for_training(run_config(plan.detect, "gn", 2, v.overrides), None, v.backbone_weights,
                                          False)  # fmt: skip
    star = models["bn_star"]
    assert _norms(star.backbone) == {FrozenBatchNorm2d} and not _norms(star.fpn) and not _norms(star.roi_heads)
    assert torch.equal(star.backbone.layer4[1].norm2.running_var, saved["backbone.layer4.1.norm2.running_var"])
    assert not _norms(models["gn_backbone"].roi_heads) and _norms(models["gn_all"].roi_heads)
    gn = torch.load(records["gn"]["weights"], weights_only=True)
    assert torch.equal(models["gn_all"].backbone.conv1.weight, gn["backbone.conv1.weight"])
    # An interrupted fine-tuning: stopped with a checkpoint after 1 of its 2 iterations.
    v = study.variant(plan, out, "bn_star", 0)
    assert train_run(plan.detect, out, "frozen_bn", 2, stop_at=1, variant=v) is None
    capsys.readouterr()
    # GN-all's model is checked above; the study trains BN* (resumed) and the GN backbone, to stay short
    argv = ["study", "detect-pretrained", "--quick", "--out", str(out), "--threads", "1", "--variants", "bn_star",
            "gn_backbone"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("done, skipped") == 2 and "resumed from" in printed  # the backbones; the stopped run
    result = json.loads((out / "study.json").read_text())
    assert [(r["variant"], r["seed"], r["backbone"]) for r in result["runs"]] == [("bn_star", 0, "bn"),
                                                                                ("gn_backbone", 0, "gn")]  # fmt: skip
    assert all(r["box_AP"] >= 0 and r["lr"] == pytest.approx(plan.base_lr * 2 / 16) for r in result["runs"])
    table = (out / "study.md").read_text()
    assert "| BN* (frozen BN backbone; FPN, heads: no norm) |" in table and "| ResNet-18, GN |" in table
    assert cv2.imread(str(out / "study.png")) is not None
    assert main(argv) == 0  # a finished study: nothing trains again
    assert capsys.readouterr().out.count("done, skipped") == 4
    assert main([*argv, "--seeds", "0", "1"]) == 2  # another plan in the same folder: refused
    with pytest.raises(GnrcnnError, match="variants"):
        study.DetectPretrainedPlan(variants=("bn",)).check()
