"""`gnrcnn bench --runtimes` on the quick demo's model: one 128 px image, one round."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest
import torch

from gnrcnn.cli import main
from gnrcnn.tools import bench_runtimes

from conftest import TINY, QuickDemo

ALL = ["pytorch fp32", "pytorch bf16", "onnxruntime fp32", "openvino fp32", "openvino bf16", "openvino int8"]


def _one_image(demo: QuickDemo, tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(sorted((demo.out / "data" / "val").glob("*.png"))[0], folder)
    return folder


def _rows(out: Path) -> dict[str, dict]:
    return {r["runtime"]: r for r in json.loads((out / "bench.json").read_text())["rows"]}


def _first_images(ann: Path, count: int, out: Path) -> Path:
    """The COCO file ``ann`` cut to its first ``count`` images and their annotations."""
    coco = json.loads(ann.read_text())
    coco["images"] = coco["images"][:count]
    ids = {im["id"] for im in coco["images"]}
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] in ids]
    out.write_text(json.dumps(coco))
    return out


def test_every_runtime_a_row_with_ap_int8_calibrated(quick_demo: QuickDemo, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    """Five runtimes exported, timed and scored (AP on 3 of the 8 validation images: the same for every
    runtime). --no-memory: each runtime's fresh-process peak is the same code path (``peak_job``), checked
    once, on PyTorch fp32, in test_a_failed_export_is_its_rows_reason_and_int8_needs_calib."""
    data, out = quick_demo.out / "data", tmp_path / "bench"
    val = _first_images(data / "annotations" / "val.json", 3, tmp_path / "val3.json")
    image = str(_one_image(quick_demo, tmp_path))
    code = main(["bench", "--runtimes", "--weights", str(quick_demo.model), "--images", image,
                 "--rounds", "1", "--threads", "1", "--calib", str(val), "--calib-count", "2", "--no-memory",
                 "--val-ann", str(val), "--data-root", str(data), "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    rows = _rows(out)
    assert list(rows) == ALL
    measured = [r for r in rows.values() if r["reason"] is None]
    assert {"pytorch fp32", "onnxruntime fp32", "openvino fp32", "openvino int8"} <= {r["runtime"] for r in measured}
    for r in measured:
        assert r["s_min"] <= r["s_per_img"] <= r["s_max"] and r["folder_img_s"] > 0
        assert r["peak_gb"] is None  # --no-memory: no fresh process started
        assert 0 <= r["mask_ap"] <= 1 and 0 <= r["box_ap"] <= 1
    assert rows["pytorch fp32"]["ratio"] == 1.0 and rows["pytorch fp32"]["box_ap"] > 0
    # exported graphs are the PyTorch model: fp32 runtimes score what it scores
    assert rows["onnxruntime fp32"]["box_ap"] == pytest.approx(rows["pytorch fp32"]["box_ap"], abs=0.02)
    for r in rows.values():
        assert r["reason"] is None or r["reason"].startswith("skipped: ")
    table = (out / "bench.md").read_text()
    assert "| openvino int8 | " in table and "box AP" in table and table.split("\n\n")[1] in printed
    picture = cv2.imread(str(out / "bench.png"))
    assert picture is not None and picture.shape[0] > 300


def test_a_failed_export_is_its_rows_reason_and_int8_needs_calib(
    quick_demo: QuickDemo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("graph refused\nsecond line")

    monkeypatch.setattr(bench_runtimes, "export_onnx", broken)
    out = tmp_path / "bench"
    image = str(_one_image(quick_demo, tmp_path))
    code = main(["bench", "--runtimes", "--weights", str(quick_demo.model), "--images", image,
                 "--rounds", "1", "--threads", "1", "--out", str(out),
                 "--only", "pytorch fp32", "onnxruntime fp32", "openvino fp32", "openvino int8"])  # fmt: skip
    assert code == 0
    rows = _rows(out)
    assert list(rows) == ["pytorch fp32", "onnxruntime fp32", "openvino fp32", "openvino int8"]
    assert rows["pytorch fp32"]["s_per_img"] > 0 and rows["pytorch fp32"]["matched"] == 1.0
    assert 0.3 < rows["pytorch fp32"]["peak_gb"] < 8  # a fresh process's own peak, not the test process's
    for name in ("onnxruntime fp32", "openvino fp32"):
        assert rows[name]["reason"] == "ONNX export failed: RuntimeError: graph refused"
    assert rows["openvino int8"]["reason"].startswith("skipped: needs --calib")
    assert "Traceback" not in capsys.readouterr().err


def test_an_unknown_runtime_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["bench", "--runtimes", "--config", "shapes-demo_r18_fpn_gn-all", "--only", "openvino",
                 "--out", str(tmp_path)])  # fmt: skip
    assert code == 2
    assert "error: --only 'openvino': not a runtime; choose from pytorch fp32," in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_device_cuda_without_cuda_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["bench", "--runtimes", "--config", "shapes-demo_r18_fpn_gn-all", "--weights", "none",
                 "--device", "cuda", "--out", str(tmp_path)])  # fmt: skip
    assert code == 2
    assert "--device cuda: CUDA is not available on this machine" in capsys.readouterr().err
    assert not (tmp_path / "bench.json").exists()


def test_bench_times_inference_and_a_training_step_in_a_fresh_process(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    code = main(["bench", "--config", str(TINY), "--weights", "none", "--device", "cpu", "--runs", "1",
                 "--train-iters", "1", "--json", str(out)])  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    assert result["inference"]["s_per_img"] > 0 and len(result["inference"]["runs"]) == 1
    train = result["training"]
    assert train["s_per_iter"] > 0 and len(train["runs"]) == 1
    assert 0.3 < train["peak_gb"] < 8  # the fresh process's own peak
