"""The demo (what `make demo` runs), reduced: small images, a short schedule."""

from __future__ import annotations

import json

import cv2

from conftest import QuickDemo


def test_quick_demo_end_to_end(quick_demo: QuickDemo) -> None:
    out = quick_demo.out
    assert quick_demo.code == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["quick"] is True
    assert summary["box_AP"] > 0 and summary["mask_AP"] > 0
    pictures = sorted((out / "predictions").glob("*.png"))
    assert len(pictures) == 8 and all(cv2.imread(str(p)) is not None for p in pictures)
    assert (out / "loss_curve.png").stat().st_size > 1000
    assert (out / "train" / "model_final.pth").exists()
    assert "box AP" in quick_demo.printed and str(out) in quick_demo.printed
