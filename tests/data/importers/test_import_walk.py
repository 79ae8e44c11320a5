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


@pytest.mark.parametrize("place", ["labels/train", "labels", "."])
def test_yolo_without_data_yaml_reads_classes_txt(place: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _yolo(tmp_path / "y")
    (src / "data.yaml").unlink()
    (src / place / "classes.txt").write_text("circle\nsquare\n")
    code, text = _run(capsys, "import-data", str(src), "--out", str(tmp_path / "coco"))
    assert code == 0, text
    assert "2 categories (id name): 1 circle, 2 square" in text
    assert "classes.txt" not in text  # neither a warning nor a label file without its image


def test_yolo_without_names_warns_that_classes_are_numbered(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _yolo(tmp_path / "y")
    (src / "data.yaml").unlink()
    code, text = _run(capsys, "import-data", str(src), "--out", str(tmp_path / "coco"))
    assert code == 0, text
    assert f"warning: {src.resolve()}: no data.yaml nor classes.txt with the class names: classes are named by " \
        "their index (0, 1, ...)" in text.splitlines()  # fmt: skip
    assert not [ln for ln in text.splitlines() if ln.startswith("skip:") and "index" in ln]  # nothing skipped for it
    assert "3 categories (id name): 1 0, 2 1, 3 5" in text  # the fixture's line of class 5 is a class too


def test_labelme_names_where_it_looked_for_the_image(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = WRITERS["labelme"](tmp_path / "lm")
    doc = json.loads((src / "img_0.json").read_text())
    (src / "x.json").write_text(json.dumps({**doc, "imagePath": "photos/x.jpg"}))
    code, text = _run(capsys, "import-data", str(src), "--out", str(tmp_path / "coco"))
    root = src.resolve()
    line = f"skip: {root}/x.json: image photos/x.jpg is not found (looked for {root}/photos/x.jpg, then {root}/x.jpg)"
    assert code == 0 and f"{line}; not imported" in text.splitlines(), text


def test_import_says_the_format_and_writes_names_relative_to_the_root_it_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    lm = WRITERS["labelme"](tmp_path / "lm")
    ds = tmp_path / "ds"  # the JSONs in ann/, the images in images/
    (ds / "ann").mkdir(parents=True)
    (ds / "images").mkdir()
    for j in sorted(lm.glob("img_*.json")):
        doc = json.loads(j.read_text())
        (ds / "images" / doc["imagePath"]).write_bytes((lm / doc["imagePath"]).read_bytes())
        (ds / "ann" / j.name).write_text(json.dumps({**doc, "imagePath": f"../images/{doc['imagePath']}"}))
    code, text = _run(capsys, "import-data", str(ds / "ann"), "--out", str(tmp_path / "coco"))
    assert code == 0, text
    assert text.splitlines()[0] == "format: labelme (told by the layout; --format to choose)"
    assert f"the file names are relative to --data-root {ds.resolve()}" in text.splitlines()
    coco = json.loads((tmp_path / "coco" / "annotations.json").read_text())
    assert sorted(i["file_name"] for i in coco["images"]) == [f"images/img_{i}.png" for i in range(8)]
    ann = tmp_path / "coco" / "annotations.json"
    code, text = _run(capsys, "check-data", "--data-root", str(ds.resolve()), "--ann", str(ann))
    assert code == 0, text


def test_a_used_out_is_refused_or_cleared(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src, out = _yolo(tmp_path / "y"), tmp_path / "coco"
    assert _run(capsys, "import-data", str(src), "--out", str(out), "--split", "0.75", "--format", "yolo")[0] == 0
    code, text = _run(capsys, "import-data", str(src), "--out", str(out))
    assert code != 0 and sorted(p.name for p in out.iterdir()) == ["train.json", "val.json"]
    assert text.strip().splitlines() == [f"error: --out {out} holds another run's files (train.json, val.json): "
                                         "choose another --out, or add --overwrite to clear them first"]  # fmt: skip
    (out / "notes.txt").write_text("mine")
    code, text = _run(capsys, "import-data", str(src), "--out", str(out), "--overwrite")
    assert code == 0, text
    assert sorted(p.name for p in out.iterdir()) == ["annotations.json", "notes.txt"]  # others' files stay


def test_export_int8_calibrates_on_the_coco_file_import_data_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gnrcnn import GnrcnnError
    from gnrcnn.cli import export as export_cli
    from gnrcnn.export.int8 import calibration_images

    src, out = _yolo(tmp_path / "y"), tmp_path / "coco"
    assert _run(capsys, "import-data", str(src), "--out", str(out))[0] == 0
    ann, root = out / "annotations.json", src.resolve()
    paths = calibration_images(str(ann), 3, str(root))
    assert [p.name for p in paths] == ["0000.jpg", "0002.jpg", "0005.jpg"] and all(p.is_file() for p in paths)

    def stop(args: object) -> None:  # the model is not needed to see what --calib resolved to
        raise GnrcnnError(f"calibration images resolved: {len(calibration_images(str(ann), 8, str(root)))}")

    monkeypatch.setattr(export_cli, "_load", stop)
    base = ["export", "--weights", "none", "--int8", "--calib", str(ann), "--out", str(tmp_path / "m.xml")]
    assert _run(capsys, *base)[1].strip() == (
        f"error: --calib {ann}: image images/train/0000.jpg is not found under {out} or {tmp_path} or "
        f"{tmp_path / 'images'}: give --data-root, the folder its file names are relative to"
    )
    assert _run(capsys, *base, "--data-root", str(root))[1].strip() == "error: calibration images resolved: 8"
    assert "not found under --data-root" in _run(capsys, *base, "--data-root", str(tmp_path))[1]
