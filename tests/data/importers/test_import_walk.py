"""``import-data`` as a second walk through it found it (issue 37): each case as the walk ran it.

A truncated JPEG (whole header, cut-off pixels) left out by the import and counted alike by ``import-data``,
``check-data`` and ``train``; ``check-data``'s counts and wording; YOLO's ``classes.txt``; LabelMe's
message for an ``imagePath`` that is not found; the format said; a used ``--out``; file names relative
to the root that is printed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gnrcnn.cli import main

from conftest import TINY
from labelling_tools import WRITERS

TRUNCATED = "not a decodable image (a truncated or corrupt JPEG file)"


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # `head -c`: the header whole, the pixels cut off


def _yolo(root: Path) -> Path:
    """The YOLO fixture without its deliberately broken files: 8 images, 0007.jpg a negative."""
    src = WRITERS["yolo"](root)
    (src / "images" / "train" / "9999.jpg").unlink()
    (src / "labels" / "train" / "0042.txt").unlink()
    return src


def test_a_truncated_jpeg_is_not_imported(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _yolo(tmp_path / "y")
    _truncate(src / "images" / "train" / "0003.jpg")
    code, text = _run(capsys, "import-data", str(src), "--out", str(tmp_path / "coco"), "--split", "0.8")
    assert code == 0, text
    assert [ln for ln in text.splitlines() if "0003.jpg" in ln] == [
        f"skip: {src.resolve()}/images/train/0003.jpg: {TRUNCATED}; not imported"
    ]
    summary = next(ln for ln in text.splitlines() if ln.startswith("imported "))
    assert summary.startswith("imported 7 images") and "1 (1 undecodable-image) images" in summary
    parts = [json.loads((tmp_path / "coco" / f"{p}.json").read_text()) for p in ("train", "val")]
    names = [i["file_name"] for part in parts for i in part["images"]]
    assert len(names) == 7 and "images/train/0003.jpg" not in names


def _with_truncated(tmp_path: Path, capsys: pytest.CaptureFixture) -> tuple[Path, Path]:
    """A COCO file imported before one of its images was cut off (train.json: 4 images, 8 instances)."""
    src = _yolo(tmp_path / "y")
    out = tmp_path / "coco"
    assert _run(capsys, "import-data", str(src), "--out", str(out))[0] == 0
    coco = json.loads((out / "annotations.json").read_text())
    keep = [i for i in coco["images"] if i["file_name"] in {f"images/train/000{k}.jpg" for k in (0, 3, 4, 5)}]
    ids = {i["id"] for i in keep}
    coco = {**coco, "images": keep, "annotations": [a for a in coco["annotations"] if a["image_id"] in ids]}
    (out / "four.json").write_text(json.dumps(coco))
    _truncate(src / "images" / "train" / "0003.jpg")
    return src.resolve(), out / "four.json"


def test_check_data_counts_what_is_left_after_decoding(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root, ann = _with_truncated(tmp_path, capsys)
    code, text = _run(capsys, "check-data", "--data-root", str(root), "--ann", str(ann))
    assert code == 1
    assert f"skip: {root}/images/train/0003.jpg (image 4): {TRUNCATED}; image dropped" in text.splitlines()
    assert text.splitlines()[-1].startswith(
        f"{ann}: 3 usable images, 6 instances; left out: 1 (1 undecodable-image) images; 0 error(s), 1 skipped"
    )
    every = ann.parent / "annotations.json"  # 8 images: 0003 cut off, 0007 without annotations
    code, text = _run(capsys, "check-data", "--data-root", str(root), "--ann", str(every))
    assert text.splitlines()[-1].startswith(f"{every}: 6 usable images, 12 instances; left out: 2 (")
    assert "usable training images" not in text  # the file's images, whatever its role (val.json too)


def test_train_counts_the_image_it_could_not_decode(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root, ann = _with_truncated(tmp_path, capsys)
    code, text = _run(capsys, "train", "--config", str(TINY), "--data-root", str(root), "--ann", str(ann), "--work-dir",
                      str(tmp_path / "w"), "--max-iters", "2", "--batch-size", "2", "--device", "cpu")  # fmt: skip
    assert code == 0, text
    lines = text.splitlines()
    assert f"skip: {root}/images/train/0003.jpg: {TRUNCATED}; replaced by the next image" in lines
    assert "data: left out during training: 1 (1 undecodable-image) images" in text
    assert "UserWarning" not in text
