"""``gnrcnn serve --label-studio``'s protocol in process (Starlette's TestClient): the labelling config read,
brush results that decode to the model's own masks, and one line for each task it cannot predict.
tests/serve/test_label_studio.py runs it against a real Label Studio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from gnrcnn.api import load_model
from gnrcnn.data.importers.ls_brush import decode_mask
from gnrcnn.labels.objects import from_instances
from gnrcnn.serve import ServeOptions
from gnrcnn.serve.label_studio import LabelStudioOptions, create_label_studio_app
from gnrcnn.serve.ls_project import LabelConfigError, parse_config
from gnrcnn.serve.ls_training import in_model_names

BRUSH = """<View><Image name="photo" value="$img"/>
  <BrushLabels name="paint" toName="photo"><Label value="CIRCLE"/><Label value="Rect" predicted_values="rectangle"/>
  <Label value="triangle"/></BrushLabels></View>"""


def test_label_config_is_read_and_classes_mapped() -> None:
    labels = parse_config(BRUSH, ["circle", "rectangle", "triangle", "star"])
    assert (labels.kind, labels.from_name, labels.to_name, labels.data_key) == ("brushlabels", "paint", "photo", "img")
    assert labels.labels == {"circle": "CIRCLE", "rectangle": "Rect", "triangle": "triangle"}
    assert labels.unmatched == ["star"]
    with pytest.raises(LabelConfigError, match="no PolygonLabels or BrushLabels tag on an Image"):
        parse_config('<View><Image name="i" value="$image"/><Choices name="c" toName="i"/></View>', ["a"])
    with pytest.raises(LabelConfigError, match="not XML"):
        parse_config("<View>", ["a"])


def test_fine_tune_data_is_in_the_models_class_names() -> None:
    """Labels that stand for model classes train as those classes, in the model's order (its heads kept);
    a label that is no model class makes a new class list (the heads start afresh)."""
    coco = {
        "images": [{"id": 1}],
        "categories": [{"id": 1, "name": "Box"}, {"id": 2, "name": "CIRCLE"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1}, {"id": 2, "image_id": 1, "category_id": 2}],
    }
    to_label = {"circle": "CIRCLE", "rectangle": "Box"}
    out = in_model_names(coco, to_label, ["circle", "triangle", "rectangle"])
    assert [c["name"] for c in out["categories"]] == ["circle", "triangle", "rectangle"]
    assert [a["category_id"] for a in out["annotations"]] == [3, 1]
    assert coco["categories"][0]["name"] == "Box"  # the input is left as it was
    other = in_model_names(coco, {"circle": "CIRCLE"}, ["circle", "triangle", "rectangle"])
    assert [c["name"] for c in other["categories"]] == ["Box", "circle"]
    assert [a["category_id"] for a in other["annotations"]] == [1, 2]


def test_backend_predicts_brush_masks_and_names_what_it_cannot(quick_demo, capsys: pytest.CaptureFixture) -> None:
    val = quick_demo.out / "data" / "val"
    image = sorted(val.glob("*.png"))[0]
    detector = load_model(weights=str(quick_demo.model), device="cpu")
    app = create_label_studio_app(detector, ServeOptions(), LabelStudioOptions(images=val, score_thr=0.05))
    tasks = [{"id": 7, "data": {"img": f"/data/local-files/?d={image.name}"}},
             {"id": 8, "data": {"img": "/data/upload/1/0a1b2c3d-missing.png"}}, {"id": 9, "data": {}}]  # fmt: skip
    with TestClient(app) as client:
        health = client.get("/health").json()
        bad = client.post("/setup", json={"project": "3.1", "schema": "<View><Text name='t' value='$t'/></View>"})
        ok = client.post("/setup", json={"project": "3.1", "schema": BRUSH})
        reply = client.post("/predict", json={"tasks": tasks, "project": "3.1", "label_config": BRUSH}).json()
        event = client.post("/webhook", json={"action": "ANNOTATION_CREATED", "project": {"id": 3}})
        train = client.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 3, "label_config": BRUSH}})
    assert event.status_code == 200 and train.status_code == 409 and "--train-dir" in train.json()["error"]
    assert health["training"] == "not offered (--train-dir)"
    assert health["status"] == "UP" and ok.json() == {"model_version": health["model_version"]}
    assert bad.status_code == 422 and "project 3: the labelling config has no PolygonLabels" in bad.json()["error"]
    first, missing, no_image = reply["results"]
    assert missing == [] and no_image == []
    err = capsys.readouterr().err
    assert "task 8: image /data/upload/1/0a1b2c3d-missing.png is not under --images" in err
    assert "task 9: no data.img (the Image tag's value); no prediction" in err
    (expected,) = detector.predict([str(image)])
    objects = from_instances(expected, 0.05)
    names = {"circle": "CIRCLE", "rectangle": "Rect", "triangle": "triangle"}
    assert first["model_version"] == health["model_version"] and len(first["result"]) == len(objects) > 0
    h, w = objects[0].mask.shape
    for result, obj in zip(first["result"], objects):  # best first, as the model ranked them
        assert result["type"] == "brushlabels" and (result["from_name"], result["to_name"]) == ("paint", "photo")
        assert result["value"]["brushlabels"] == [names[obj.label]]
        assert result["score"] == pytest.approx(obj.score, abs=1e-5)
        assert np.array_equal(decode_mask(result["value"]["rle"], h, w), obj.mask)
    assert first["score"] == pytest.approx(np.mean([o.score for o in objects]), abs=1e-4)


def test_cli_refuses_bad_label_studio_flags(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from gnrcnn.cli import main

    from conftest import TINY

    code = main(
        ["serve", "--config", str(TINY), "--weights", "none", "--label-studio", "--images", str(tmp_path / "no")]
    )
    assert code != 0 and f"--images {tmp_path / 'no'}: no such folder" in capsys.readouterr().err
