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
    # The analyze pictures of the validation split (the demo shows them).
    for png in ("pr_curves.png", "confusion_matrix.png"):
        assert cv2.imread(str(out / "analyze" / png)) is not None
    drawn = [len(list((out / "analyze" / kind).glob("*.png"))) for kind in ("worst", "best")]
    assert drawn == [4, 4]  # 8 validation images: at most half of them each
    assert "found with the right class" in (out / "analyze" / "summary.txt").read_text()
    printed = quick_demo.printed
    assert "box AP" in printed and str(out) in printed and f"{out}/analyze/" in printed
