"""Folders streamed: JSON lines as results come, a crash loses nothing, --resume skips what is done
(a torn last line ignored), prefetching on and off give the same output; the bounded thread helpers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gnrcnn import load_model
from gnrcnn.cli import main
from gnrcnn.data.shapes import make_split
from gnrcnn.errors import GnrcnnError
from gnrcnn.fileio import JsonLines, read_json_lines, write_json_list_atomic
from gnrcnn.predict.images import StreamOptions, predict_stream
from gnrcnn.predict.loop import make_runner
from gnrcnn.predict.prefetch import Background, Sink, ordered_map
from infermodels import busy_tiny_checkpoint


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return busy_tiny_checkpoint(tmp_path_factory.mktemp("stream") / "tiny.pth")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("imgs")
    make_split(root, "imgs", 6, 64, seed=3)
    return root / "imgs"


class _CrashError(Exception):
    pass


def test_crash_loses_nothing_and_resume_skips_what_is_done(tiny_ckpt: Path, folder: Path, tmp_path: Path) -> None:
    det = load_model(weights=tiny_ckpt)
    paths = sorted(folder.iterdir())
    full = tmp_path / "full"
    predict_stream(make_runner(det), paths, full, StreamOptions(workers=2))
    runner, calls = make_runner(det), []

    def crash_on_fourth(items: list) -> list:
        calls.append(1)
        if len(calls) == 4:
            raise _CrashError
        return make_runner(det).run(items)

    runner.run = crash_on_fourth
    out = tmp_path / "crashed"
    with pytest.raises(_CrashError):
        predict_stream(runner, paths, out, StreamOptions(workers=2))
    assert [d["file_name"] for d in read_json_lines(out / "predictions.jsonl")] == [str(p) for p in paths[:3]]
    with open(out / "predictions.jsonl", "ab") as f:
        f.write(b'{"file_name": "torn by the cra')  # the process died in the middle of a line
    summary = predict_stream(make_runner(det), paths, out, StreamOptions(workers=2, resume=True))
    assert summary.skipped == 3 and summary.images == 3 and not summary.errors
    assert (out / "predictions.json").read_bytes() == (full / "predictions.json").read_bytes()
    assert len(json.loads((out / "predictions.json").read_text())) == 6 * 6  # 6 detections per image
    assert sorted(p.name for p in out.glob("*.png")) == sorted(p.name for p in full.glob("*.png"))


def test_cli_resume_and_prefetch_off_give_the_same_results(tiny_ckpt: Path, folder: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    bad = tmp_path / "in"
    bad.mkdir()
    for p in sorted(folder.iterdir())[:3]:
        (bad / p.name).write_bytes(p.read_bytes())
    (bad / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    base = ["predict", "--weights", str(tiny_ckpt), str(bad), "--no-pictures"]
    assert main([*base, "--out", str(tmp_path / "on")]) == 1  # the broken image is an error; the rest is done
    assert "3 image(s)" in capsys.readouterr().out
    assert main([*base, "--out", str(tmp_path / "on"), "--resume"]) == 1
    assert "0 image(s), 3 done before (--resume)" in capsys.readouterr().out
    assert main([*base, "--out", str(tmp_path / "off"), "--workers", "0"]) == 1
    on, off = (tmp_path / d / "predictions.json" for d in ("on", "off"))
    assert on.read_bytes() == off.read_bytes() and not list((tmp_path / "on").glob("*.png"))
    assert (tmp_path / "on" / "predictions.jsonl").read_text() == (tmp_path / "off" / "predictions.jsonl").read_text()


def test_ordered_map_keeps_order_reports_bad_items_and_stays_bounded() -> None:
    in_flight, peak, lock = [0], [0], threading.Lock()

    def work(x: int) -> int:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.002 * (x % 3))
        with lock:
            in_flight[0] -= 1
        if x == 5:
            raise GnrcnnError("item 5 is bad")
        return x * x

    started = []
    items = (started.append(i) or i for i in range(40))
    got = []
    for item, result, error in ordered_map(work, items, workers=3, depth=4):
        assert len(started) <= item + 1 + 4  # never more than `depth` items read ahead
        got.append((item, result, str(error) if error else None))
    assert got == [(i, None if i == 5 else i * i, "item 5 is bad" if i == 5 else None) for i in range(40)]
    assert peak[0] <= 3
    assert list(ordered_map(lambda x: -x, range(4), workers=0)) == [(i, -i, None) for i in range(4)]


def test_background_and_sink_hand_errors_to_the_caller() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("decoder broke")

    got = []
    with Background(source(), depth=1) as bg, pytest.raises(ValueError, match="decoder broke"):
        for x in bg:
            got.append(x)
    assert got == [1, 2]
    written = []

    def write(x: int) -> None:
        if x == 3:
            raise OSError("disk full")
        written.append(x)

    sink = Sink(write, depth=2)
    for x in range(3):
        sink.put(x)
    sink.put(3)
    with pytest.raises(OSError, match="disk full"):
        sink.close()
    assert written == [0, 1, 2]


def test_json_lines_cut_a_torn_line_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    with JsonLines(path, fresh=True) as lines:
        lines.append({"a": 1})
    path.write_bytes(path.read_bytes() + b'{"a": 2, "b')
    assert list(read_json_lines(path)) == [{"a": 1}]
    with JsonLines(path, fresh=False) as lines:
        lines.append({"a": 3})
    assert list(read_json_lines(path)) == [{"a": 1}, {"a": 3}]
    path.write_bytes(b'{"a": 1}\nnot json\n{"a": 3}\n')
    with pytest.raises(GnrcnnError, match="line 2 is not JSON"):
        list(read_json_lines(path))


def test_a_results_list_is_streamed_to_the_bytes_json_dumps_gives(tmp_path: Path) -> None:
    items = [{"image_id": 1, "bbox": [1.5, 2, 3, 4], "segmentation": {"size": [4, 5], "counts": 'a"b\\c'}},
             {"image_id": 2, "score": None}]  # fmt: skip
    for case in (items, [], items[:1]):
        write_json_list_atomic(iter(case), tmp_path / "results.json")  # a generator: never a list in memory
        assert (tmp_path / "results.json").read_text() == json.dumps(case)
