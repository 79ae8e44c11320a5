"""Published weights by name, end to end: a seed config with no --weights fetches its checkpoint through
a mirror on 127.0.0.1, checks it, caches it and predicts; the cache then works with the mirror stopped.

The real files cannot be served here: a file whose SHA-256 starts with the published name's prefix
cannot be forged. So the seed name is exercised two ways: with the real zoo table, where a file served
at the seed's exact path is refused for its hash; and with the zoo table's entry for that name pointing
at a file name that carries the served file's own prefix (same host, same folder), which goes through.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch

from gnrcnn import build_model, load_config, load_model, zoo
from gnrcnn.cli import main
from gnrcnn.weights import gnrcnn_checkpoint

from conftest import DATA, TINY
from weights_server import serve, sha256

R50 = "mask-rcnn_r50_fpn_gn-all_2x_coco"
PUBLISHED = "mask_rcnn_r50_fpn_gn-all_2x_coco_20200206-8eee02a6.pth"
# Small images and few proposals: the R-50 box head's cost is per proposal, whatever the image size.
SMALL = ["--set", "input.short=128", "--set", "input.long=192", "--set", "model.rpn.post_nms_topk_test=20"]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("GNRCNN_CACHE", str(folder))
    return folder


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(DATA / "coffee.png", folder / "coffee.png")
    return folder


def _errors(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_seed_name_through_a_mirror_then_offline(
    r50_sample: Path, photos: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:  # fmt: skip
    data = r50_sample.read_bytes()  # an MMDetection-format R-50 checkpoint (gnrcnn.weights.reference)
    entry = zoo.find(R50)
    url = entry.url.replace("8eee02a6", sha256(data)[:8])  # same folder, the served file's own prefix
    table = tuple(dataclasses.replace(e, url=url) if e is entry else e for e in zoo.ZOO)
    monkeypatch.setattr(zoo, "ZOO", table)
    with serve({urlsplit(url).path: data}) as mirror:
        monkeypatch.setenv("GNRCNN_WEIGHTS_MIRROR", mirror.url)
        assert main(["predict", "--config", R50, *SMALL, str(photos), "--out", str(tmp_path / "a")]) == 0
    cached = cache / Path(urlsplit(url).path).name
    assert cached.read_bytes() == data and mirror.requests == [urlsplit(url).path]
    err = capsys.readouterr().err
    assert f"downloading {mirror.url}{urlsplit(url).path}" in err and "SHA-256 checked" in err
    # The mirror is stopped: the second run needs no network.
    assert main(["predict", "--config", R50, *SMALL, str(photos), "--out", str(tmp_path / "b")]) == 0
    first, second = (json.loads((tmp_path / d / "predictions.json").read_text()) for d in "ab")
    assert first == second and len(first) > 0
    assert "downloading" not in capsys.readouterr().err


def test_seed_name_with_the_real_table_refuses_a_file_of_another_hash(
    photos: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    path = urlsplit(zoo.find(R50).url).path
    assert path == f"/mmdetection/v2.0/gn/mask_rcnn_r50_fpn_gn-all_2x_coco/{PUBLISHED}"
    with serve({path: b"not the published checkpoint" * 1000}) as mirror:
        monkeypatch.setenv("GNRCNN_WEIGHTS_MIRROR", mirror.url)
        assert main(["predict", "--config", R50, str(photos), "--out", str(tmp_path / "o")]) == 2
    (error,) = _errors(capsys.readouterr().err)
    assert error.startswith(f"error: cannot download {mirror.url}{path}: hash mismatch: SHA-256 ")
    assert "8eee02a6" in error and error.endswith(f"put the file at {cache / Path(path).name}")
    assert not cache.exists() or not any(cache.iterdir())


def test_seed_name_offline_is_one_line(photos: Path, cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    # conftest's mirror is a closed local port: what an air-gapped machine without a mirror sees, minus DNS.
    assert main(["predict", "--config", R50, str(photos), "--out", str(tmp_path / "o")]) == 2
    (error,) = _errors(capsys.readouterr().err)
    assert "connection refused" in error and str(cache / PUBLISHED) in error


def test_weights_by_url_predict_then_offline(
    photos: Path, cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cfg = load_config(str(TINY))
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.pth"
    torch.save(gnrcnn_checkpoint(build_model(cfg), cfg.to_dict()), ckpt)
    data = ckpt.read_bytes()
    name = f"tiny-{sha256(data)[:8]}.pth"
    with serve({f"/models/{name}": data}) as srv:
        url = f"{srv.url}/models/{name}"
        assert main(["predict", "--weights", url, str(photos), "--out", str(tmp_path / "a")]) == 0
    assert (cache / name).read_bytes() == data
    assert main(["predict", "--weights", url, str(photos), "--out", str(tmp_path / "b")]) == 0
    first, second = (json.loads((tmp_path / d / "predictions.json").read_text()) for d in "ab")
    assert first == second
    det = load_model(weights=url)  # Python: the same URL, from the cache
    assert det.cfg.name == "tiny" and srv.requests == [f"/models/{name}"]


def test_random_weights_are_an_explicit_choice(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["predict", "--config", str(TINY), str(photos), "--out", str(tmp_path / "o")]) == 2
    (error,) = _errors(capsys.readouterr().err)
    assert error == ("error: config 'tiny' has no published checkpoint: give weights (a file, an http(s) URL or a "
                     "zoo name), or 'none' for a randomly initialised model")  # fmt: skip
    assert main(["predict", "--config", str(TINY), "--weights", "none", str(photos), "--out", str(tmp_path / "o")]) == 0
    assert "warning: --weights none: the model is randomly initialised" in capsys.readouterr().err
