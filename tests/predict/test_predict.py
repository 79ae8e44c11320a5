"""Prediction end to end: files in, COCO JSON and pictures out; bad input is one line, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from gnrcnn import load_model
from gnrcnn.cli import main

from conftest import DATA, REFERENCE

R50 = "mask-rcnn_r50_fpn_gn-all_2x_coco"
PHOTO = DATA / "coffee.png"  # 400 x 600


def _check_records(records: list[dict], h: int, w: int, n_classes_ids: set[int]) -> None:
    for r in records:
        assert set(r) == {"file_name", "category_id", "bbox", "score", "segmentation"}
        x, y, bw, bh = r["bbox"]
        assert 0 <= x <= x + bw <= w + 1e-3 and 0 <= y <= y + bh <= h + 1e-3
        assert r["category_id"] in n_classes_ids and 0.05 < r["score"] <= 1
        assert isinstance(r["segmentation"]["counts"], str) and r["segmentation"]["size"] == [h, w]
        assert mask_utils.decode(r["segmentation"]).shape == (h, w)


@pytest.mark.slow
def test_predict_full_scale_photo(r50_sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "full"
    assert main(["predict", "--config", R50, "--weights", str(r50_sample), str(PHOTO), "--out", str(out)]) == 0
    records = json.loads((out / "predictions.json").read_text())
    assert len(records) > 0
    from gnrcnn.config.coco_classes import COCO_CATEGORY_IDS

    _check_records(records, 400, 600, set(COCO_CATEGORY_IDS))
    picture = cv2.imread(str(out / "coffee.png"))
    assert picture.shape == (400, 600, 3)
    assert "1 image(s)" in capsys.readouterr().out


def test_predict_small_scale_and_api_inputs(r50_sample: Path, tmp_path: Path) -> None:
    # 100 proposals, not 1000: the 4conv box head on 1000 RoIs was most of each of the six predictions, and what
    # is compared here (the same picture through every input path) does not depend on how many.
    det = load_model(R50, weights=r50_sample, overrides=["input.short=320", "input.long=512",
                                                         "model.rpn.post_nms_topk_test=100"])  # fmt: skip
    bgr = cv2.imread(str(PHOTO))
    rgb = bgr[..., ::-1].copy()
    from_file = det.predict(PHOTO)[0]
    from_bgr = det.predict(bgr)[0]  # numpy arrays are BGR unless told otherwise, as OpenCV reads them
    from_rgb = det.predict(rgb, color="rgb")[0]
    from_tensor = det.predict(torch.from_numpy(rgb).permute(2, 0, 1))[0]  # tensors RGB, as torchvision's
    swapped = det.predict(rgb)[0]  # an RGB array read as BGR: another picture
    assert len(from_file) > 0
    assert not (len(swapped) == len(from_file) and torch.equal(swapped.masks, from_file.masks))
    for other in (from_rgb, from_bgr, from_tensor):
        assert torch.equal(other.boxes, from_file.boxes) and torch.equal(other.masks, from_file.masks)
    assert from_file.masks.shape == (len(from_file), 400, 600) and from_file.labels.dtype == torch.int64
    batch, sizes, metas = det.preprocessor([PHOTO])
    assert batch.shape[-2:] == (320, 480) and metas[0].img_shape == (320, 480)
    pre = det.run_batch(batch, sizes, metas)[0]  # an already-preprocessed batch
    assert torch.equal(pre.boxes, from_file.boxes)


def test_no_detection_is_empty_and_well_formed(r50_silent: Path, tmp_path: Path) -> None:
    # 100 proposals, not 1000, as above: none of them survives either way.
    small = ["input.short=256", "input.long=400", "model.rpn.post_nms_topk_test=100"]
    det = load_model(R50, weights=r50_silent, overrides=small)
    inst = det.predict(REFERENCE / "astronaut.png")[0]
    assert len(inst) == 0 and inst.boxes.shape == (0, 4) and inst.masks.shape == (0, 512, 512)
    out = tmp_path / "empty"
    args = ["predict", "--config", R50, "--weights", str(r50_silent), *(a for o in small for a in ("--set", o)),
            str(REFERENCE / "astronaut.png"), "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert json.loads((out / "predictions.json").read_text()) == []
    assert (out / "astronaut.png").exists()


def _run_cli(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gnrcnn", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def r101_ckpt(ckpt_dir: Path) -> Path:
    from gnrcnn.weights.reference import manifest

    g = torch.Generator().manual_seed(0)
    sd = {k: torch.randn(tuple(s), generator=g) for k, s in manifest("mask-rcnn_r101_fpn_gn-all_2x_coco")["state_dict"]}
    path = ckpt_dir / "r101.pth"
    torch.save({"state_dict": sd, "meta": {}}, path)
    return path


def test_bad_inputs_are_one_line_without_traceback(
    tmp_path: Path, r101_ckpt: Path, capsys: pytest.CaptureFixture
) -> None:
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_text("this is not a JPEG")
    typo = tmp_path / "typo.yaml"
    typo.write_text(f"_base_: {R50}\nmodel:\n  roi:\n    score_treshold: 0.3\n")
    small = ["--weights", "none", "--set", "input.short=128", "--set", "input.long=128"]
    cases = [
        (["predict", "--config", R50, *small, str(tmp_path / "missing.jpg"), "--out", str(tmp_path / "out1")],
         "missing.jpg"),
        (["predict", "--config", R50, *small, str(corrupt), "--out", str(tmp_path / "out2")],
         "broken.jpg: not a decodable image (no JPEG"),
        (["predict", "--config", R50, "--weights", str(r101_ckpt), str(PHOTO), "--out", str(tmp_path / "out3")],
         "unexpected"),
        (["predict", "--config", "mask-rcnn_r50_fpn_gn-all_9x_coco", str(PHOTO), "--out", str(tmp_path / "out4")],
         "unknown config name"),
        (["predict", "--config", str(typo), str(PHOTO), "--out", str(tmp_path / "out5")], "model.roi.score_treshold"),
        (["convert", str(corrupt), str(tmp_path / "x.pth")], "broken.jpg"),
    ]  # fmt: skip
    # The first case as a user runs it, in a process of its own (the entry point's own handling); the others
    # through the same main() in this process, which a traceback would fail as an exception.
    for i, (args, needle) in enumerate(cases):
        if i == 0:
            res = _run_cli(args)
            code, err = res.returncode, res.stderr
        else:
            code = main(args)
            err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert code != 0, args
        assert "Traceback" not in err, err
        assert len(errors) == 1 and needle in errors[0], err


def test_one_bad_image_does_not_lose_the_others(tmp_path: Path, r50_sample: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a_bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    img = np.full((64, 96, 3), 128, np.uint8)
    cv2.imwrite(str(folder / "b_good.png"), img)
    out = tmp_path / "out"
    args = ["predict", "--config", R50, "--weights", str(r50_sample), "--set", "input.short=64",
            "--set", "input.long=96", str(folder), "--out", str(out)]  # fmt: skip
    assert main(args) == 1
    assert (out / "b_good.png").exists() and (out / "predictions.json").exists()


def test_detectron2_config_runs_end_to_end(tmp_path: Path) -> None:
    small = ["input.short=256", "input.long=400"]
    det = load_model("detectron2_mask_rcnn_R_50_FPN_3x_gn", weights="none", overrides=small)
    inst = det.predict(PHOTO)[0]
    assert inst.masks.shape[1:] == (400, 600) and inst.boxes.shape[1] == 4
    batch, _, metas = det.preprocessor([PHOTO])
    assert metas[0].img_shape == (256, 384) and batch.shape[-2:] == (256, 384)
