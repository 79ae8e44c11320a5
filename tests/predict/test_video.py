"""Videos: an annotated video plus one JSON line per frame, --every N, threads on and off giving the
same output, and a truncated or unreadable file ending in one clear line with the frames done saved."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from gnrcnn.cli import main
from gnrcnn.data.scenes import moving_shapes, write_video
from infermodels import busy_tiny_checkpoint


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return busy_tiny_checkpoint(tmp_path_factory.mktemp("video") / "tiny.pth")


def _frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    return frames


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_video_gives_annotated_frames_and_json_lines(tiny_ckpt: Path, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    assert write_video(moving_shapes(12, 120, 160, count=3, radius=(15, 25)), clip, fps=10) == 12
    out = tmp_path / "out"
    # --score-thr 0.2: the busy model's scores sit near 1/3 (three classes, no background), below the default 0.5.
    args = ["predict", "--weights", str(tiny_ckpt), str(clip), "--out", str(out), "--every", "3", "--score-thr", "0.2"]
    assert main(args) == 0
    lines = _lines(out / "clip.jsonl")
    assert [d["frame"] for d in lines] == [0, 3, 6, 9]
    assert [d["time_s"] for d in lines] == pytest.approx([0.0, 0.3, 0.6, 0.9])
    for d in lines:
        assert d["detections"] and set(d["detections"][0]) == {"category_id", "bbox", "score", "segmentation"}
        assert d["detections"][0]["segmentation"]["size"] == [120, 160]
    annotated, original = _frames(out / "clip.mp4"), _frames(clip)
    assert len(annotated) == 4 and annotated[0].shape == (120, 160, 3)
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10 / 3, rel=0.01)
    # The drawing is there: boxes and masks change the frame well beyond the codec's loss.
    assert np.abs(annotated[1].astype(int) - original[3].astype(int)).max() > 100


def test_threads_on_and_off_write_the_same(tiny_ckpt: Path, tmp_path: Path) -> None:
    clip = tmp_path / "clip.avi"
    write_video(moving_shapes(6, 96, 128, count=2, radius=(15, 25)), clip)
    for workers in ("0", "2"):
        assert main(["predict", "--weights", str(tiny_ckpt), str(clip), "--out", str(tmp_path / workers),
                     "--workers", workers]) == 0  # fmt: skip
    assert (tmp_path / "0" / "clip.jsonl").read_bytes() == (tmp_path / "2" / "clip.jsonl").read_bytes()
    assert len(_frames(tmp_path / "2" / "clip.mp4")) == 6


def test_truncated_and_unreadable_videos_are_one_line(tiny_ckpt: Path, tmp_path: Path,
                                                     capfd: pytest.CaptureFixture) -> None:  # fmt: skip
    full = tmp_path / "full.avi"  # MJPEG in AVI: readable up to where the file was cut
    write_video(moving_shapes(20, 96, 128, count=2), full)
    data = full.read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) * 6 // 10])
    (tmp_path / "cut.mp4").write_bytes(b"\0\0\0\x18ftypmp42" + data[:2000])  # an MP4 cut before its index
    (tmp_path / "notes.mp4").write_text("not a video")
    capfd.readouterr()
    code = main(["predict", "--weights", str(tiny_ckpt), str(tmp_path / "cut.avi"), "--out", str(tmp_path / "o")])
    err = capfd.readouterr().err  # file descriptor 2: FFmpeg's own messages would show here
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(errors) == 1, err
    assert "cut.avi: frame " in errors[0] and "of 20 cannot be decoded" in errors[0]
    assert "[mjpeg" not in err  # silenced: the one line says it
    done = _lines(tmp_path / "o" / "cut.jsonl")
    assert 0 < len(done) < 20 and [d["frame"] for d in done] == list(range(len(done)))
    assert len(_frames(tmp_path / "o" / "cut.mp4")) == len(done)
    for name in ("cut.mp4", "notes.mp4"):
        code = main(["predict", "--weights", str(tiny_ckpt), str(tmp_path / name), "--out", str(tmp_path / "o")])
        err = capfd.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert code == 1 and len(errors) == 1 and f"{name}: not an image" in errors[0], err
        assert "moov atom" not in err
    mp4 = tmp_path / "same.mp4"
    write_video(moving_shapes(2, 64, 64, count=1, radius=(10, 20)), mp4)
    code = main(["predict", "--weights", str(tiny_ckpt), str(mp4), "--out", str(tmp_path)])
    err = capfd.readouterr().err
    assert code == 1 and "same.mp4: the annotated video would replace it" in err and len(_frames(mp4)) == 2
