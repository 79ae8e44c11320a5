"""``gnrcnn import-data``: each labelling tool's export -> COCO -> ``check-data`` -> ``train --val-ann``.

The fixtures (``labelling_tools.py``) are written as the tools write them, with the mistakes real exports
carry; every one must come out as one line naming its file and shape, and the summary must count it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_util

from gnrcnn import GnrcnnError
from gnrcnn.cli import main
from gnrcnn.data.check import report as check_report
from gnrcnn.data.importers import detect_format, import_dataset
from gnrcnn.data.importers.common import to_coco
from gnrcnn.data.importers.cvat import decode_rle
from gnrcnn.data.importers.split import split_ids

from conftest import TINY
from labelling_tools import CLASSES, N_IMAGES, WRITERS, cvat_rle

# What each fixture gets wrong, as (file name fragment, shape fragment, reason fragment).
BAD = {
    "labelme": [("broken.json", "", "not a readable LabelMe JSON"), ("embedded.json", "", "has no imagePath"),
                ("img_1.json", "shape 2 (polygon 'square')",
                "fewer than 3 points"), ("img_2.json", "shape 2 (polygon 'circle')", "off the image"),
                ("img_3.json", "shape 2 (line 'tail')", "shape type 'line'")],
    "cvat": [("frame_000099.png", "", "not a decodable image"), ("frame_000002.png", "box 2 ('square')",
             "off the image"), ("frame_000003.png", "polygon 2 ('triangle')", "label 'triangle' is not one of")],
    "yolo": [("9999.jpg", "", "not a decodable image"), ("0042.txt", "", "has no image of the same name"),
             ("0001.txt", "line 3 (class 1, 'square')", "zero area"),
             ("0002.txt", "line 3 (class 5, '5')", "label '5' is not one of")],
    "voc": [("2007_000099.xml", "", "not a readable VOC XML"), ("2007_000002.xml", "object 3 ('square')",
            "degenerate box"), ("2007_000005.xml", "object 3 ('square')", "off the image")],
}  # fmt: skip


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_import_reports_every_bad_shape_and_round_trips_through_check_data(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    src = WRITERS[fmt](tmp_path / fmt)
    assert detect_format(src) == fmt
    code, text = _run(capsys, "import-data", str(src), "--out", str(tmp_path / "coco"), "--split", "0.75")
    assert code == 0, text
    lines = text.splitlines()
    for file_part, shape_part, reason in BAD[fmt]:
        hits = [ln for ln in lines if file_part in ln and shape_part in ln and reason in ln]
        assert len(hits) == 1, f"{fmt}: no single line for {file_part} {shape_part} {reason}:\n{text}"
    train = json.loads((tmp_path / "coco" / "train.json").read_text())
    val = json.loads((tmp_path / "coco" / "val.json").read_text())
    assert [c["name"] for c in train["categories"]] == CLASSES and train["categories"] == val["categories"]
    assert "2 categories (id name): 1 circle, 2 square" in text
    assert len(train["images"]) + len(val["images"]) == N_IMAGES  # the unreadable file is not an image
    assert not {i["id"] for i in train["images"]} & {i["id"] for i in val["images"]}
    for part in (train, val):  # every class in both parts
        assert {a["category_id"] for a in part["annotations"] if not a["iscrowd"]} == {1, 2}
    summary = next(ln for ln in lines if ln.startswith("imported "))
    shapes_bad = sum(1 for _, shape, _ in BAD[fmt] if shape)
    n_ann = len(train["annotations"]) + len(val["annotations"])
    assert f"{n_ann} of {n_ann + shapes_bad} shapes" in summary and f"not imported: {shapes_bad} shapes" in summary
    assert f"--data-root {src.resolve()}" in lines[-1]
    for part in ("train", "val"):
        report, status = check_report(tmp_path / "coco" / f"{part}.json", src.resolve())
        assert status == 0, report


def test_imported_geometry_is_what_the_tool_drew(tmp_path: Path) -> None:
    """The same scene through all four tools: masks agree with the drawn pixels to within the outline."""
    from labelling_tools import _scene

    _, (_, _, r), (x0, y0, x1, y1) = _scene(0)
    for fmt, writer in WRITERS.items():
        src = writer(tmp_path / fmt)
        result = import_dataset(src, tmp_path / f"out_{fmt}", fmt)
        img = next(i for i in result.coco["images"] if i["file_name"].split("/")[-1].split(".")[0].endswith("0"))
        anns = {a["category_id"]: a for a in result.coco["annotations"] if a["image_id"] == img["id"]}
        square = anns[2]["bbox"]
        # VOC leaves a 1-px border (255) out of the instance mask: 2 px of slack
        assert np.allclose(square, [x0, y0, x1 - x0 + 1, y1 - y0 + 1], atol=2.01), (fmt, square)
        circle_area = anns[1]["area"]
        assert abs(circle_area - np.pi * r * r) < 0.15 * np.pi * r * r, (fmt, circle_area)


def test_cvat_rle_decodes_as_cvat_encodes() -> None:
    m = np.zeros((40, 50), bool)
    m[5:20, 7:30] = True
    m[12, 7] = False
    rle, left, top, w, h = cvat_rle(m)
    local = decode_rle([int(v) for v in rle.split(",")], w, h)
    assert (left, top, w, h) == (7, 5, 23, 15)
    assert np.array_equal(local, m[top : top + h, left : left + w])
    full_rle = mask_util.encode(np.asfortranarray(m.astype(np.uint8)))
    assert mask_util.area(full_rle) == local.sum()


def test_split_keeps_classes_in_both_parts_and_is_seeded() -> None:
    images = [{"id": i} for i in range(1, 21)]
    anns = [{"image_id": i, "category_id": 1} for i in range(1, 19)]
    anns += [{"image_id": 19, "category_id": 2}, {"image_id": 20, "category_id": 2}, {"image_id": 7, "category_id": 3}]
    coco = {"images": images, "annotations": anns, "categories": [{"id": c, "name": f"c{c}"} for c in (1, 2, 3)]}
    for seed in range(6):
        train, val, notes = split_ids(coco, 0.8, seed)
        assert len(train) == 16 and len(val) == 4 and train | val == set(range(1, 21))
        in_val = {a["category_id"] for a in anns if a["image_id"] in val}
        in_train = {a["category_id"] for a in anns if a["image_id"] in train}
        assert {1, 2} <= in_val and {1, 2, 3} <= in_train
        assert notes == ["class 'c3' is on 1 image(s): only in train"]
    assert split_ids(coco, 0.8, 1) == split_ids(coco, 0.8, 1) and split_ids(coco, 0.8, 1) != split_ids(coco, 0.8, 2)


def test_unknown_layout_and_bad_split_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(GnrcnnError, match=r"cannot tell the format .* pass --format labelme\|cvat\|yolo\|voc"):
        import_dataset(tmp_path / "empty", tmp_path / "out")
    src = WRITERS["yolo"](tmp_path / "y")
    with pytest.raises(GnrcnnError, match=r"--split 1.5: give the training fraction"):
        import_dataset(src, tmp_path / "out", split=1.5)


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_train_with_val_ann_on_imported_data(fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = WRITERS[fmt](tmp_path / fmt)
    out = tmp_path / "coco"
    assert _run(capsys, "import-data", str(src), "--out", str(out), "--split", "0.75")[0] == 0
    code, text = _run(capsys, "train", "--config", str(TINY), "--data-root", str(src.resolve()), "--ann",
                      str(out / "train.json"), "--val-ann", str(out / "val.json"), "--work-dir", str(tmp_path / "w"),
                      "--max-iters", "2", "--batch-size", "2", "--device", "cpu")  # fmt: skip
    assert code == 0, text
    metrics = json.loads((tmp_path / "w" / "metrics.json").read_text())
    assert set(metrics) >= {"bbox", "segm"}


def test_cvat_rotated_box_is_the_rotated_rectangle(tmp_path: Path) -> None:
    from gnrcnn.data.importers import cvat

    src = tmp_path / "c"
    (src / "images").mkdir(parents=True)
    Image.new("RGB", (100, 100)).save(src / "images" / "a.png")
    (src / "annotations.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version><meta><task><labels><label>'
        '<name>bar</name></label></labels></task></meta><image id="0" name="a.png" width="100" height="100">'
        '<box label="bar" source="manual" occluded="0" xtl="30.00" ytl="45.00" xbr="70.00" ybr="55.00" '
        'rotation="90.00" z_order="0"></box></image></annotations>'
    )
    ann = to_coco(cvat.read(src))[0]["annotations"][0]
    assert np.allclose(ann["bbox"], [45, 30, 10, 40], atol=1e-6)  # 40 x 10 turned a quarter: 10 x 40
