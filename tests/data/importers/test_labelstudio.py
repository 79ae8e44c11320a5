"""``import-data --format labelstudio`` on a hand-built JSON export, and Label Studio's brush RLE.

The export is written as Label Studio 1.x exports a project (tasks with ``data.image`` as an upload path
or a local-files URL, ``annotations[].result`` regions in percent of ``original_width``/``height``); the
brush RLE is checked against Label Studio's own code in tests/serve/test_label_studio.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_util

from gnrcnn.cli import main
from gnrcnn.data.importers import detect_format
from gnrcnn.data.importers.ls_brush import BrushError, decode_mask, decode_values, encode_mask
from gnrcnn.data.masks import to_rle

W, H = 96, 64


def _region(kind: str, value: dict, rid: str = "a", **extra: object) -> dict:
    return {"id": rid, "from_name": "label", "to_name": "image", "type": kind, "original_width": W,
            "original_height": H, "image_rotation": 0, "value": value, **extra}  # fmt: skip


def _task(tid: int, image: str, results: list[dict], cancelled: bool = False) -> dict:
    ann = {"id": tid * 10, "result": results, "was_cancelled": cancelled, "updated_at": "2026-01-01T00:00:00Z"}
    return {"id": tid, "data": {"image": image}, "annotations": [ann], "predictions": []}


def _square_mask() -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[10:40, 50:90] = True
    m[20:30, 60:70] = False  # a hole, which a polygon cannot hold
    return m


def _export(tmp: Path) -> tuple[Path, Path]:
    images = tmp / "images"
    (images / "sub").mkdir(parents=True)
    for name in ("a.png", "b.png", "sub/c.png", "d.png"):
        Image.new("RGB", (W, H), (40, 40, 40)).save(images / name)
    poly = [[10, 10], [40, 10], [40, 50], [10, 50]]  # percent: x 9.6..38.4 px, y 6.4..32 px
    tasks = [
        _task(1, "/data/upload/7/0a1b2c3d-a.png", [
            _region("polygonlabels", {"points": poly, "closed": True, "polygonlabels": ["circle"]}),
            _region("rectanglelabels", {"x": 50, "y": 50, "width": 25, "height": 25, "rotation": 0,
                                        "rectanglelabels": ["square"]}, "b"),
            _region("rectanglelabels", {"x": 10, "y": 60, "width": 20, "height": 10, "rotation": 90,
                                        "rectanglelabels": ["square"]}, "c")]),
        _task(2, "/data/local-files/?d=sub/c.png", [
            _region("brushlabels", {"format": "rle", "rle": encode_mask(_square_mask()), "brushlabels": ["square"]}),
            _region("polygon", {"points": poly, "closed": True}, "p"), _region("labels", {"labels": ["circle"]}, "p"),
            _region("brushlabels", {"format": "rle", "rle": encode_mask(np.ones((H, W // 2), bool)),
                                    "brushlabels": ["square"]}, "wrong")]),
        _task(3, "/data/upload/7/99999999-missing.png", []),
        _task(4, "/data/upload/7/12345678-b.png", [], cancelled=True),
        _task(5, "http://example.com/files/d.png", [_region("keypointlabels", {"x": 5, "y": 5})]),
    ]  # fmt: skip
    (tmp / "export.json").write_text(json.dumps(tasks))
    return tmp / "export.json", images


def test_brush_rle_round_trips_and_reads_literal_chunks() -> None:
    rng = np.random.default_rng(0)
    for mask in (rng.random((37, 53)) > 0.7, np.ones((300, 300), bool), np.zeros((5, 7), bool), _square_mask()):
        rle = encode_mask(mask)
        assert int.from_bytes(bytes(rle[:4]), "big") == 4 * mask.size  # the header's value count
        assert np.array_equal(decode_mask(rle, *mask.shape), mask)
    # A literal chunk (flag 0: three 8-bit words), as the editor's encoder writes for unequal neighbours.
    bits = f"{3:032b}{7:05b}" + "".join(f"{s - 1:04b}" for s in (3, 4, 8, 16)) + "0" + "00" + f"{2:03b}"
    bits += "".join(f"{v:08b}" for v in (5, 200, 7))
    bits += "0" * (-len(bits) % 8)
    rle = [int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)]
    assert decode_values(rle).tolist() == [5, 200, 7]
    with pytest.raises(BrushError, match="holds 140 pixels, not the 10x10"):
        decode_mask(encode_mask(np.ones((10, 14), bool)), 10, 10)
    with pytest.raises(BrushError, match="ends early"):
        decode_values(encode_mask(np.eye(8, dtype=bool))[:8])


def test_import_labelstudio_export(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    export, images = _export(tmp_path)
    assert detect_format(export) == "labelstudio"
    code = main(["import-data", str(export), "--images", str(images), "--out", str(tmp_path / "coco")])
    text = capsys.readouterr().out
    assert code == 0, text
    lines = text.splitlines()
    expected = [("task 3", "image /data/upload/7/99999999-missing.png is not found under --images"),
                ("task 4", "has no annotation that was not cancelled"),
                ("task 2: region 3 (brushlabels 'square')", "holds 3072 pixels, not the 96x64"),
                ("task 5: region 0 (keypointlabels '')", "shape type 'keypointlabels'")]  # fmt: skip
    for where, what in expected:
        assert sum(where in ln and what in ln for ln in lines) == 1, f"no single line for {where}: {what}\n{text}"
    assert (
        "and 5 of 7 shapes; not imported: 2 shapes (1 unsupported-shape, 1 unreadable-shape), 1 (1 unreadable-image)"
        " images, 1 other file(s) (1 not-labelled)"
    ) in text
    coco = json.loads((tmp_path / "coco" / "annotations.json").read_text())
    assert [i["file_name"] for i in coco["images"]] == ["a.png", "d.png", "sub/c.png"]
    names = {c["id"]: c["name"] for c in coco["categories"]}
    anns = {
        (a["image_id"], names[a["category_id"]], tuple(round(v, 2) for v in a["bbox"])) for a in coco["annotations"]
    }
    poly = (0.1 * W, 0.1 * H, 0.3 * W, 0.4 * H)
    rect = (0.5 * W, 0.5 * H, 0.25 * W, 0.25 * H)
    turned = (0.1 * W - 0.1 * H, 0.6 * H, 0.1 * H, 0.2 * W)  # 90 degrees clockwise about its top-left corner
    brush = (50, 10, 40, 30)
    expected_boxes = {(1, "circle", poly), (1, "square", rect), (1, "square", turned), (3, "square", brush),
                      (3, "circle", poly)}  # fmt: skip
    assert anns == {(i, n, tuple(round(float(v), 2) for v in box)) for i, n, box in expected_boxes}
    painted = next(a for a in coco["annotations"] if a["image_id"] == 3 and names[a["category_id"]] == "square")
    decoded = mask_util.decode(to_rle(painted["segmentation"], H, W)).astype(bool)
    assert np.array_equal(decoded, _square_mask())  # the hole kept: a brush mask stays a mask
