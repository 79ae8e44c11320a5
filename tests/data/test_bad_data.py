"""Bad training data: one clear line naming the file or annotation, or a logged skip; never a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gnrcnn.cli import main

from conftest import TINY


def _dataset(shapes8: Path, tmp: Path, edit) -> tuple[Path, Path]:
    root = tmp / "data"
    shutil.copytree(shapes8, root)
    ann = root / "annotations" / "train.json"
    data = json.loads(ann.read_text())
    edit(data, root)
    ann.write_text(json.dumps(data))
    return root, ann


def _args(root: Path, ann: Path, work: Path) -> list[str]:
    return ["train", "--config", str(TINY), "--data-root", str(root), "--ann", str(ann), "--work-dir", str(work),
            "--max-iters", "1", "--device", "cpu", "--set", "input.short=64", "--set", "input.long=64"]  # fmt: skip


def _train(root: Path, ann: Path, work: Path) -> subprocess.CompletedProcess:
    """``gnrcnn train`` as a user runs it, in a process of its own."""
    cmd = [sys.executable, "-m", "gnrcnn", *_args(root, ann, work)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def _refused(root: Path, ann: Path, work: Path, capsys: pytest.CaptureFixture) -> subprocess.CompletedProcess:
    """``gnrcnn train`` refusing its data before any step, through main() in this process (a process of
    its own costs seconds; a traceback here would fail the test as an exception)."""
    code = main(_args(root, ann, work))
    return subprocess.CompletedProcess([], code, "", capsys.readouterr().err)


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
    ("edit", "needle"),
    [
        (_missing_file, "000003.png (image 3): image file not found"),
        (_everything_crowd, "no usable training image"),
    ],
)
def test_bad_data_that_stops_training(shapes8: Path, tmp_path: Path, edit, needle: str,
                                      capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    root, ann = _dataset(shapes8, tmp_path, edit)
    res = _refused(root, ann, tmp_path / "work", capsys)
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    lines = [line for line in res.stderr.splitlines() if needle in line]
    assert len(lines) == 1, res.stderr[-2000:]
    assert res.returncode != 0 and not (tmp_path / "work" / "metrics.jsonl").exists()


SKIPPED = [
    (_bad_polygon, "annotation 100 (image 1, train/000001.png): no polygon with an even number"),
    (_unknown_category, "annotation 101 (image 1, train/000001.png): category 77 is not in"),
    (_zero_area, "annotation 102 (image 1, train/000001.png): degenerate bbox [10, 10, 0, 5]"),
]


def test_bad_data_that_training_skips_is_one_line_each(shapes8: Path, tmp_path: Path) -> None:
    """Three skippable faults in one file (each on its own annotation), so one training run tells all three."""

    def edit_all(d: dict, root: Path) -> None:
        for edit, _ in SKIPPED:
            edit(d, root)

    root, ann = _dataset(shapes8, tmp_path, edit_all)
    res = _train(root, ann, tmp_path / "work")
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    for _, needle in SKIPPED:
        lines = [line for line in res.stderr.splitlines() if needle in line]
        assert len(lines) == 1, (needle, res.stderr[-2000:])
    assert res.returncode == 0 and (tmp_path / "work" / "model_final.pth").exists()


def test_annotation_file_that_is_not_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ann = tmp_path / "ann.json"
    ann.write_text("images: [1, 2]\n")
    res = _refused(tmp_path, ann, tmp_path / "work", capsys)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith(f"error: {ann}: not valid JSON (line 1, column 1")


def test_json_that_is_not_coco(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"images": [], "labels": []}))
    res = _refused(tmp_path, ann, tmp_path / "work", capsys)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert "not a COCO instances file (no 'annotations' list)" in res.stderr
