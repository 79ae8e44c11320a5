"""safetensors: read by content like every weights format, written by ``convert`` and by training, never running
code; and the training log's record of what the run trained on (``metrics.jsonl``'s ``data`` line)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from gnrcnn import GnrcnnError, load_model
from gnrcnn.cli import main
from gnrcnn.weights import load_weights_file

from conftest import TINY


def test_convert_writes_safetensors_with_config_and_classes_and_it_loads_the_same(
    tiny_trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "model.safetensors"
    assert main(["convert", str(tiny_trained), str(out)]) == 0
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    assert meta["format"] == "gnrcnn" and json.loads(meta["class_names"]) == ["circle", "triangle", "rectangle"]
    assert json.loads(meta["config"])["data"]["class_names"] == ["circle", "triangle", "rectangle"]
    renamed = tmp_path / "weights.bin"  # told by content, not by name
    shutil.copy(out, renamed)
    a, b = load_weights_file(tiny_trained), load_weights_file(renamed)
    assert b.format == "gnrcnn" and b.config == a.config and a.state_dict.keys() == b.state_dict.keys()
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    image = torch.randint(0, 255, (3, 128, 128), dtype=torch.uint8)
    got = [load_model(weights=str(w)).predict(image)[0] for w in (tiny_trained, renamed)]
    assert torch.equal(got[0].boxes, got[1].boxes) and torch.equal(got[0].scores, got[1].scores)


def test_a_plain_safetensors_state_dict_and_a_broken_file(tiny_trained: Path, tmp_path: Path) -> None:
    sd = load_weights_file(tiny_trained).state_dict
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "plain.safetensors"))
    loaded = load_weights_file(tmp_path / "plain.safetensors")
    assert loaded.format == "gnrcnn-state-dict" and loaded.state_dict.keys() == sd.keys()
    data = (tmp_path / "plain.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(GnrcnnError, match=r"cut.safetensors: corrupt or truncated safetensors file"):
        load_weights_file(tmp_path / "cut.safetensors")


def test_training_writes_safetensors_and_logs_what_it_trained_on(
    shapes8: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root = tmp_path / "data"
    shutil.copytree(shapes8, root)
    ann = json.loads((root / "annotations" / "train.json").read_text())
    first, img0 = ann["annotations"][0], ann["images"][0]
    ann["annotations"] += [
        {**first, "id": 9001, "bbox": [5, 5, 0.5, 10]},  # degenerate
        {**first, "id": 9002, "iscrowd": 1},  # crowd
    ]
    (root / "train" / "broken.png").write_bytes(b"not an image")
    ann["images"] += [{**img0, "id": 9100, "file_name": "train/broken.png"},  # unreadable
                      {**img0, "id": 9200}]  # no annotation: a negative, left out without --keep-empty  # fmt: skip
    (tmp_path / "train.json").write_text(json.dumps(ann))
    work = tmp_path / "w"
    code = main(["train", "--config", str(TINY), "--data-root", str(root), "--ann", str(tmp_path / "train.json"),
                 "--val-ann", str(root / "annotations" / "val.json"), "--work-dir", str(work), "--max-iters", "1",
                 "--batch-size", "2", "--device", "cpu"])  # fmt: skip
    text = capsys.readouterr()
    assert code == 0, text.err
    n_ann = len(json.loads((shapes8 / "annotations" / "train.json").read_text())["annotations"])
    val = json.loads((shapes8 / "annotations" / "val.json").read_text())
    line = next(ln for ln in (text.out + text.err).splitlines() if ln.startswith("data: "))
    assert line.startswith(f"data: 8 images (0 negatives), {n_ann} annotations; left out: 2 (1 unreadable-image, "
                           "1 no annotation (--keep-empty trains on them)) images, 2 (1 degenerate-box, 1 crowd) "
                           "annotations")  # fmt: skip
    assert f"val.json: {len(val['images'])} images (0 negatives), {len(val['annotations'])} annotations" in line
    records = [json.loads(x) for x in (work / "metrics.jsonl").read_text().splitlines()]
    data = next(r for r in records if "data" in r)
    assert data["iter"] == 0 and records.index(data) == 0 and data["data"]["images_left_out"]["unreadable-image"] == 1
    assert data["data"]["val"]["images"] == len(val["images"])
    a = load_weights_file(work / "model_final.pth").state_dict
    b = load_weights_file(work / "model_final.safetensors").state_dict
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_name_proves_nothing_a_code_carrying_pickle_called_safetensors_is_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    src = tmp_path / "model.safetensors"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "payload": Evil()}, src)
    with pytest.raises(GnrcnnError, match="refused to load"):
        load_weights_file(src)
