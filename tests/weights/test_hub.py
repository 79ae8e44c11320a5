"""Weights by URL or name: downloaded once, hash-checked, cached; every failure one line, nothing half kept.

Each test serves its own files on 127.0.0.1 (``weights_server``); conftest points the zoo's URLs at a
closed local port and the cache at an empty folder, so nothing here can reach the internet.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

import pytest

from gnrcnn import GnrcnnError
from gnrcnn.weights import hub

from weights_server import closed_port, serve, sha256


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("GNRCNN_CACHE", str(folder))
    return folder


def _blob(n: int = 300_000) -> tuple[bytes, str]:
    data = os.urandom(n)
    return data, f"blob-{sha256(data)[:8]}.pth"


def _nothing_kept(cache: Path) -> bool:
    return not cache.exists() or not any(cache.iterdir())  # neither the file nor a temporary one


def test_download_is_checked_cached_and_reused_without_the_server(cache: Path, capsys: pytest.CaptureFixture) -> None:
    data, name = _blob()
    with serve({f"/w/{name}": data}) as srv:
        path = hub.fetch(f"{srv.url}/w/{name}")
        assert path == cache / name and path.read_bytes() == data
        assert hub.fetch(f"{srv.url}/w/{name}") == path and srv.requests == [f"/w/{name}"]
    assert "SHA-256 checked" in capsys.readouterr().err
    assert hub.fetch(f"{srv.url}/w/{name}") == path  # the server is gone: the cache answers
    assert hub.resolve(f"{srv.url}/w/{name}") == path
    assert [p.name for p in cache.iterdir()] == [name]


def test_hash_mismatch_is_refused_and_not_kept(cache: Path) -> None:
    data, _ = _blob()
    name = "blob-00000000.pth" if not sha256(data).startswith("00000000") else "blob-11111111.pth"
    with serve({f"/{name}": data}) as srv, pytest.raises(GnrcnnError) as e:
        hub.fetch(f"{srv.url}/{name}")
    msg = str(e.value)
    assert "hash mismatch" in msg and f"{srv.url}/{name}" in msg and str(cache / name) in msg and "\n" not in msg
    assert _nothing_kept(cache)


def test_connection_dropped_halfway_is_refused(cache: Path) -> None:
    data, name = _blob()
    with serve({f"/{name}": data}, drop=(f"/{name}",)) as srv, pytest.raises(GnrcnnError) as e:
        hub.fetch(f"{srv.url}/{name}")
    assert f"connection closed after {len(data) // 2} of {len(data)} bytes" in str(e.value)
    assert _nothing_kept(cache)


def test_404_names_the_url_and_where_to_put_the_file(cache: Path) -> None:
    with serve({}) as srv, pytest.raises(GnrcnnError) as e:
        hub.fetch(f"{srv.url}/gone-12345678.pth")
    assert str(e.value) == (f"cannot download {srv.url}/gone-12345678.pth: HTTP 404 Not Found; "
                            f"to use it offline, put the file at {cache / 'gone-12345678.pth'}")  # fmt: skip
    assert _nothing_kept(cache)


def test_server_down_is_connection_refused(cache: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/x-12345678.pth"
    with pytest.raises(GnrcnnError, match=r"^cannot download .*: connection refused \(is the server up\?\); to use "):
        hub.fetch(url)
    assert _nothing_kept(cache)


def test_full_disk_is_one_line(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class FullDisk:
        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(hub, "atomic_open", lambda *a, **k: contextlib.nullcontext(FullDisk()))
    data, name = _blob()
    with serve({f"/{name}": data}) as srv, pytest.raises(GnrcnnError, match=r": disk full; to use it offline"):
        hub.fetch(f"{srv.url}/{name}")


def test_a_name_without_hash_is_kept_with_a_warning(cache: Path, capsys: pytest.CaptureFixture) -> None:
    data = b"x" * 1000
    with serve({"/ImageNetPretrained/47261647/R-50-GN.pkl": data}) as srv:
        path = hub.fetch(f"{srv.url}/ImageNetPretrained/47261647/R-50-GN.pkl")
    assert path.read_bytes() == data
    assert f"no SHA-256 in its name: the download could not be checked (its SHA-256 is {sha256(data)})" in (
        capsys.readouterr().err
    )


def test_mirror_replaces_scheme_and_host(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://download.openmmlab.com/pretrain/third_party/resnet50_gn-9186a21c.pth"
    monkeypatch.setenv("GNRCNN_WEIGHTS_MIRROR", "http://127.0.0.1:8080")
    assert hub.mirrored(url) == "http://127.0.0.1:8080/pretrain/third_party/resnet50_gn-9186a21c.pth"
    monkeypatch.setenv("GNRCNN_WEIGHTS_MIRROR", "http://mirror.local/models/")
    assert hub.mirrored(url) == "http://mirror.local/models/pretrain/third_party/resnet50_gn-9186a21c.pth"
    monkeypatch.setenv("GNRCNN_WEIGHTS_MIRROR", "ftp://x")
    with pytest.raises(GnrcnnError, match="GNRCNN_WEIGHTS_MIRROR='ftp://x': expected http://host:port"):
        hub.mirrored(url)


def test_cache_is_torch_hub_s_unless_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GNRCNN_CACHE")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert hub.cache_dir() == tmp_path / "th" / "hub" / "checkpoints"
    monkeypatch.setenv("GNRCNN_CACHE", str(tmp_path / "mine"))
    assert hub.cache_dir() == tmp_path / "mine"


def test_names_resolve_to_the_zoo_s_files(tmp_path: Path, cache: Path) -> None:
    assert hub.resolve("none") is None and hub.resolve("None") is None
    local = tmp_path / "mask-rcnn_r50_fpn_gn-all_2x_coco"
    local.write_bytes(b"a file of that name is taken as it is")
    assert hub.resolve(str(local)) == local
    assert hub.zoo_source("mask-rcnn_r50_fpn_gn-all_2x_coco")[0].endswith("_20200206-8eee02a6.pth")
    assert hub.zoo_source("mask_rcnn_r50_fpn_gn-all_2x_coco_20200206-8eee02a6.pth") == hub.zoo_source(
        "mask-rcnn_r50_fpn_gn-all_2x_coco"
    )
    url = hub.zoo_source("open-mmlab://contrib/resnet50_gn")[0]
    assert url.endswith("/resnet50_gn_thangvubk-ad1730dd.pth") and hub.zoo_source(url)[0] == url  # mirrored too
    assert hub.zoo_source("catalog://ImageNetPretrained/FAIR/R-101-GN")[0].endswith("/47592356/R-101-GN.pkl")
    with pytest.raises(GnrcnnError, match=r"^nope\.pth: weights file not found \(nor a zoo name"):
        hub.resolve("nope.pth")
    with pytest.raises(GnrcnnError, match=r"unknown weights name \(backbones: open-mmlab://detectron/resnet50_gn"):
        hub.resolve("open-mmlab://detectron/resnet18_gn")
    # A zoo file already in the cache (put there by hand) is used without any network access.
    cache.mkdir()
    (cache / "resnet50_gn-9186a21c.pth").write_bytes(b"placed by hand")
    assert hub.resolve("open-mmlab://detectron/resnet50_gn") == cache / "resnet50_gn-9186a21c.pth"
