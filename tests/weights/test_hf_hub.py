"""The Hugging Face Hub: ``export --format hub`` writes an upload-ready folder; ``--weights hf://...`` loads it
through huggingface_hub's real client (its cache, revisions, HF_HUB_OFFLINE) from a Hub stand-in on 127.0.0.1
(``hf_server.py``), and predicts exactly what the ``.pth`` predicts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from gnrcnn import GnrcnnError, load_model
from gnrcnn.cli import main
from gnrcnn.weights import hub

from conftest import TINY
from hf_server import COMMIT, serve_repo

REPO = "someone/tiny-shapes"


@pytest.fixture
def hub_folder(tiny_trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> Path:
    """The exported folder of a run that was evaluated (its metrics.json beside the checkpoint)."""
    run = tmp_path / "run"
    shutil.copytree(tiny_trained.parent, run, ignore=shutil.ignore_patterns("iter_*", "tb"))
    (run / "metrics.json").write_text(json.dumps({t: {m: 0.125 * (i + 1) for i, m in enumerate(
        ("AP", "AP50", "AP75", "APs", "APm", "APl"))} for t in ("bbox", "segm")}))  # fmt: skip
    out = tmp_path / "hub"
    assert main(["export", "--format", "hub", "--weights", str(run / "model_final.pth"), "--out", str(out)]) == 0
    assert f"hf upload OWNER/REPO {out} ." in capsys.readouterr().out
    return out


@pytest.fixture
def hf_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    return cache


def test_the_folder_and_its_model_card(hub_folder: Path, tiny_trained: Path) -> None:
    assert sorted(p.name for p in hub_folder.iterdir()) == [
        "README.md", "class_names.json", "config.yaml", "model.safetensors"]  # fmt: skip
    classes = json.loads((hub_folder / "class_names.json").read_text())
    assert [c["name"] for c in classes] == ["circle", "triangle", "rectangle"]
    card = (hub_folder / "README.md").read_text()
    data = next(json.loads(x)["data"] for x in (tiny_trained.parent / "metrics.jsonl").read_text().splitlines()
                if '"data"' in x)  # fmt: skip
    assert card.startswith("---\nlibrary_name: gnrcnn\n")
    assert f"| training images | {data['images']} |" in card and f"| annotations (instances) | {data['annotations']} |"
    assert "| box | 0.125 | 0.250 | 0.375 | 0.500 | 0.625 | 0.750 |" in card and "| mask | 0.125 |" in card


def test_hf_weights_download_then_cache_offline_with_the_same_predictions(
    hub_folder: Path, tiny_trained: Path, hf_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = torch.randint(0, 255, (3, 128, 128), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    want = load_model(weights=str(tiny_trained)).predict(image)[0]
    with serve_repo(REPO, hub_folder) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.endpoint)
        got = load_model(weights=f"hf://{REPO}").predict(image)[0]
        assert f"HEAD /{REPO}/resolve/main/model.safetensors" in srv.requests
        assert any(r.startswith("GET /lfs/") for r in srv.requests)  # followed the redirect to the "CDN"
        assert hub.resolve(f"hf://{REPO}/config.yaml").read_text() == (hub_folder / "config.yaml").read_text()
    assert torch.equal(want.boxes, got.boxes) and torch.equal(want.scores, got.scores)
    assert torch.equal(want.masks, got.masks) and want.class_names == got.class_names
    assert (hf_env / f"models--{REPO.replace('/', '--')}" / "refs" / "main").read_text() == COMMIT
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the server is gone; the cache answers, by branch or commit
    for spec in (f"hf://{REPO}", f"hf://{REPO}@{COMMIT}/model.safetensors"):
        path = hub.resolve(spec)
        assert path.read_bytes() == (hub_folder / "model.safetensors").read_bytes()


def test_wrong_revision_missing_file_and_offline_without_cache(
    hub_folder: Path, hf_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_repo(REPO, hub_folder) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.endpoint)
        with pytest.raises(GnrcnnError, match=rf"^hf://{REPO}@v9: {REPO} has no revision 'v9'"):
            hub.resolve(f"hf://{REPO}@v9")
        with pytest.raises(GnrcnnError, match=rf"^hf://{REPO}/nope.pth: {REPO}@main has no file 'nope.pth'$"):
            hub.resolve(f"hf://{REPO}/nope.pth")
        with pytest.raises(GnrcnnError, match=r"no repository other/repo on the Hub"):
            hub.resolve("hf://other/repo")
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        with pytest.raises(GnrcnnError, match=r"is not in the Hugging Face cache and HF_HUB_OFFLINE is set$"):
            hub.resolve(f"hf://{REPO}")
    with pytest.raises(GnrcnnError, match=r"^hf://nobody: expected hf://owner/repo"):
        hub.resolve("hf://nobody")


def test_predict_and_train_cli_with_hf_weights(
    hub_folder: Path, hf_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shapes8: Path,
    capsys: pytest.CaptureFixture,
) -> None:  # fmt: skip
    with serve_repo(REPO, hub_folder) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.endpoint)
        image = sorted((shapes8 / "val").iterdir())[0]
        assert main(["predict", "--weights", f"hf://{REPO}", str(image), "--out", str(tmp_path / "p"),
                     "--device", "cpu"]) == 0  # fmt: skip
        assert main(["train", "--config", str(TINY), "--weights", f"hf://{REPO}", "--data-root", str(shapes8),
                     "--ann", str(shapes8 / "annotations" / "train.json"), "--work-dir", str(tmp_path / "w"),
                     "--max-iters", "1", "--device", "cpu"]) == 0  # fmt: skip
    assert (tmp_path / "p" / "predictions.json").is_file()
    assert f"starting from hf://{REPO} (gnrcnn)" in capsys.readouterr().out
