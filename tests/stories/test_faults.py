"""Real faults outside training (docs/reliability.md's table): a disk that fills up under predict, eval and
export, a read-only --out, predict --resume killed at random points ten times, an export killed mid-write,
a used --out, weights of another architecture or class count. Training's own are in tests/train/."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

from faults import fill, tmpfs
from forked import Forked, fork_server, run
from gnrcnn import GnrcnnError
from gnrcnn.cli import main
from gnrcnn.data.shapes import make_split
from infermodels import busy_tiny_checkpoint

from conftest import TINY


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return busy_tiny_checkpoint(tmp_path_factory.mktemp("faults") / "tiny.pth")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fault_images")
    make_split(root, "imgs", 24, 64, seed=5)
    return root / "imgs"


def _errors(capsys: pytest.CaptureFixture) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]


def _lines(path: Path) -> int:
    return len(path.read_bytes().split(b"\n")) - 1 if path.exists() else 0


def test_predict_resume_killed_at_random_points_ten_times_gives_each_image_once(ckpt: Path, images: Path,
                                                                               tmp_path: Path) -> None:  # fmt: skip
    """SIGKILL at random moments (loading, mid-image, mid-line, while predictions.json is written), then
    --resume: the final predictions.json equals an uninterrupted run's, each image exactly once."""
    argv = ["predict", "--weights", str(ckpt), str(images), "--no-pictures", "--workers", "0"]
    n = len(list(images.iterdir()))
    # Each run a process of its own, forked with the imports done (tests/forked.py): ~0.25 s of loading, then
    # ~50 ms an image. Each run is killed once 1-5 more lines (drawn) are in predictions.jsonl, so while the next
    # image runs or its line is written (all of them: while predictions.json is written), or, drawn 0, at a
    # random moment of the loading.
    fork_server()  # started and ready before the loading is timed
    straight = Forked([*argv, "--out", str(tmp_path / "straight")], tmp_path / "straight.log")
    start, load = time.perf_counter(), 0.0
    while straight.poll() is None and not load and time.perf_counter() - start < 300:
        load = time.perf_counter() - start if _lines(tmp_path / "straight" / "predictions.jsonl") else 0.0
        time.sleep(0.005)
    assert straight.wait(timeout=300) == 0, straight.output()[-2000:]
    out, rng, kills = tmp_path / "killed", random.Random(0), []
    for attempt in range(10):
        done = _lines(out / "predictions.jsonl")
        target = min(n, done + rng.randint(0, 5))  # ~2.5 lines a run: the ten runs reach the end
        proc = Forked([*argv, "--out", str(out), *(["--resume"] if attempt else [])], tmp_path / "killed.log")
        if target == done:
            time.sleep(rng.uniform(0.0, load))
        start = time.perf_counter()
        while proc.poll() is None and _lines(out / "predictions.jsonl") < target and time.perf_counter() - start < 60:
            time.sleep(0.002)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills.append(f"{_lines(out / 'predictions.jsonl')}/{n}")
        assert proc.wait(timeout=60) in (0, -signal.SIGKILL), proc.output()[-2000:]
    code, printed = run([*argv, "--out", str(out), "--resume"], tmp_path / "resumed.log", timeout=300)
    assert code == 0, printed[-2000:]
    got = json.loads((out / "predictions.json").read_text())
    assert got == json.loads((tmp_path / "straight" / "predictions.json").read_text())
    assert len(kills) >= 5, kills  # measured: 10 of 10 (a run may finish between a poll and its kill)
    print(f"{len(kills)} of 10 runs killed, with these lines written: {kills}")


def test_a_full_disk_under_predict_eval_and_export_is_one_line_and_keeps_what_was_there(
    ckpt: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with tmpfs(tmp_path / "disk", 16) as disk:
        old_export = disk / "model.onnx"
        old_export.write_bytes(b"the previous export")
        filler = fill(disk, leave_bytes=16 << 10)  # 16 KB left: a few lines, not a results file
        argv = ["predict", "--weights", str(ckpt), str(images), "--out", str(disk / "pred"), "--no-pictures"]
        assert main(argv) == 2
        assert main(["export", "--weights", str(ckpt), "--out", str(old_export)]) == 2
        errors = _errors(capsys)
        assert len(errors) == 2 and all("No space left on device" in e for e in errors), errors
        assert "predictions.json" in errors[0] and "model.onnx" in errors[1]
        assert old_export.read_bytes() == b"the previous export"  # the old file intact, no partial one beside
        assert not [p for p in disk.rglob(".*.tmp")]
        kept = (disk / "pred" / "predictions.jsonl").read_text().splitlines()
        filler.unlink()
        assert main([*argv, "--resume"]) == 0  # space freed: the lines kept count, the rest is done
        capsys.readouterr()
        assert len(json.loads((disk / "pred" / "predictions.json").read_text())) == 24 * 6 and len(kept) < 24


def test_a_full_disk_under_eval_keeps_no_torn_results(quick_demo, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    data = quick_demo.out / "data"
    with tmpfs(tmp_path / "disk", 8) as disk:
        fill(disk, leave_bytes=4 << 10)
        assert main(["eval", "--weights", str(quick_demo.model), "--ann", str(data / "annotations" / "val.json"),
                     "--data-root", str(data), "--out", str(disk / "ev")]) == 2  # fmt: skip
        errors = _errors(capsys)
        assert len(errors) == 1 and "results.json: cannot write results (No space left on device)" in errors[0]
        assert not (disk / "ev" / "results.json").exists() and not list(disk.rglob(".*.tmp"))


def test_a_read_only_or_used_out_is_refused_before_the_model_loads(ckpt: Path, images: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    with tmpfs(tmp_path / "ro", 1, read_only=True) as ro:
        assert main(["predict", "--weights", str(tmp_path / "no-such.pth"), str(images), "--out", str(ro)]) == 2
        assert _errors(capsys) == [f"error: {ro}: cannot write here (Read-only file system): choose another folder"]
    out = tmp_path / "used"
    argv = ["predict", "--weights", str(ckpt), str(images), "--out", str(out), "--no-pictures"]
    assert main(argv) == 0
    assert main(argv) == 2
    assert "holds another run's files (predictions.json, predictions.jsonl): add --resume" in _errors(capsys)[0]
    assert main([*argv, "--overwrite"]) == 0


def test_an_export_killed_mid_write_leaves_the_old_file_or_a_whole_new_one(ckpt: Path, tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    target.write_bytes(b"the previous export")
    # Forked with the imports done (tests/forked.py), an export takes ~3.5 s: the kills come from a quarter of
    # the way in to its end, when the file is written.
    argv = ["export", "--weights", str(ckpt), "--out", str(target)]
    env, rng = dict(os.environ, OMP_NUM_THREADS="1"), random.Random(1)
    for _ in range(3):
        proc = Forked(argv, tmp_path / "export.log", env)
        time.sleep(rng.uniform(0.8, 3.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        data = target.read_bytes()
        assert data == b"the previous export" or _loads_as_onnx(target), len(data)
    assert run(argv, tmp_path / "last.log", env)[0] == 0 and _loads_as_onnx(target)


def _loads_as_onnx(path: Path) -> bool:
    import onnx

    try:
        onnx.checker.check_model(str(path))
    except Exception:
        return False
    return True


def test_weights_of_another_architecture_or_class_count_name_keys_and_both_shapes(ckpt: Path, tmp_path: Path) -> None:
    from gnrcnn import load_config, load_model
    from gnrcnn.build import build_model
    from gnrcnn.fileio import save_torch_atomic
    from gnrcnn.weights import gnrcnn_checkpoint

    with pytest.raises(GnrcnnError, match=r"weights do not fit this model; .*mis-shaped: backbone\.\S+ \(file "
                       r"\[\d+, \d+, 7, 7\] vs model \[\d+, \d+, 7, 7\]\)") as e:  # fmt: skip
        load_model("mask-rcnn_r101_fpn_gn-all_2x_coco", weights=ckpt)  # tiny R-18 weights, an R-101 config
    assert "\n" not in str(e.value)
    five = load_config(str(TINY), ["data.class_names=[a,b,c,d,e]", "data.category_ids=[1,2,3,4,5]"])
    bare = gnrcnn_checkpoint(build_model(five), {})  # weights only: nothing says its classes
    save_torch_atomic(bare, tmp_path / "five.pth")
    with pytest.raises(GnrcnnError, match=r"five.pth: weights do not fit .*cls_score.weight \(file \[6, \d+\] vs "
                       r"model \[81, \d+\]\)"):  # fmt: skip
        load_model(TINY, weights=tmp_path / "five.pth")
