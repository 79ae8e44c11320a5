"""Bad training data: one clear line naming the file or annotation, or a logged skip; never a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TINY


def _dataset(shapes8: Path, tmp: Path, edit) -> tuple[Path, Path]:
    root = tmp / "data"
    shutil.copytree(shapes8, root)
    ann = root / "annotations" / "train.json"
    data = json.loads(ann.read_text())
    edit(data, root)
    ann.write_text(json.dumps(data))
    return root, ann


def _train(root: Path, ann: Path, work: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "gnrcnn", "train", "--config", str(TINY), "--data-root", str(root), "--ann", str(ann),
           "--work-dir", str(work), "--max-iters", "1", "--device", "cpu"]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def _missing_file(d: dict, root: Path) -> None:
    (root / d["images"][2]["file_name"]).unlink()


def _bad_polygon(d: dict, root: Path) -> None:
    d["annotations"][0]["segmentation"] = [[1.0, 2.0, 3.0, 4.0]]


def _unknown_category(d: dict, root: Path) -> None:
    d["annotations"][1]["category_id"] = 77


def _zero_area(d: dict, root: Path) -> None:
    d["annotations"][2]["bbox"] = [10, 10, 0, 5]


def _everything_crowd(d: dict, root: Path) -> None:
    for a in d["annotations"]:
        a["iscrowd"] = 1


@pytest.mark.parametrize(
    ("edit", "outcome", "needle"),
    [
        (_missing_file, "error", "000003.png (image 3): image file not found"),
        (_bad_polygon, "skip", "annotation 100 (image 1, train/000001.png): no polygon with an even number"),
        (_unknown_category, "skip", "annotation 101 (image 1, train/000001.png): category 77 is not in"),
        (_zero_area, "skip", "annotation 102 (image 1, train/000001.png): degenerate bbox [10, 10, 0, 5]"),
        (_everything_crowd, "error", "no usable training image"),
    ],
)
def test_bad_data(shapes8: Path, tmp_path: Path, edit, outcome: str, needle: str) -> None:
    root, ann = _dataset(shapes8, tmp_path, edit)
    res = _train(root, ann, tmp_path / "work")
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    lines = [line for line in res.stderr.splitlines() if needle in line]
    assert len(lines) == 1, res.stderr[-2000:]
    if outcome == "error":
        assert res.returncode != 0 and not (tmp_path / "work" / "metrics.jsonl").exists()
    else:
        assert res.returncode == 0 and (tmp_path / "work" / "model_final.pth").exists()


def test_annotation_file_that_is_not_json(tmp_path: Path) -> None:
    ann = tmp_path / "ann.json"
    ann.write_text("images: [1, 2]\n")
    res = _train(tmp_path, ann, tmp_path / "work")
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith(f"error: {ann}: not valid JSON (line 1, column 1")


def test_json_that_is_not_coco(tmp_path: Path) -> None:
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"images": [], "labels": []}))
    res = _train(tmp_path, ann, tmp_path / "work")
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert "not a COCO instances file (no 'annotations' list)" in res.stderr
