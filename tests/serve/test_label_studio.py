"""gnrcnn with a real Label Studio: ``gnrcnn serve --label-studio`` as its ML backend (pre-labels, then a
fine-tune started from Label Studio on its export), its brush RLE, and ``import-data --format labelstudio``.

Label Studio runs from its own venv (tests/label_studio_server.py; ``make test`` prepares it with
tests/scripts/label_studio_prepare.sh) on a free loopback port with its data in a temporary folder; its SDK
drives it from that venv's python (tests/scripts/label_studio_loop.py), as a user's script would.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np
import pytest

from gnrcnn.cli import main
from gnrcnn.data.importers.ls_brush import decode_mask, encode_mask
from label_studio_server import VENV, LabelStudio, missing

from serve_helpers import ServerProcess

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))

SCRIPTS = Path(__file__).parent.parent / "scripts"
# The demo's classes are circle, triangle, rectangle: one label by another case, one by predicted_values,
# none for triangle (its detections are skipped, said in one line).
CONFIG = """<View>
  <Image name="img" value="$photo"/>
  <PolygonLabels name="shapes" toName="img">
    <Label value="Circle"/>
    <Label value="Box" predicted_values="rectangle"/>
    <Label value="Star"/>
  </PolygonLabels>
</View>"""


def test_brush_rle_is_label_studios(tmp_path: Path) -> None:
    """Our encoder's RLE decodes with Label Studio's SDK, and the SDK's ``mask2rle`` decodes with ours."""
    rng = np.random.default_rng(3)
    mask = np.zeros((70, 90), bool)
    mask[10:50, 20:80] = True
    mask[rng.random(mask.shape) > 0.97] = True
    np.save(tmp_path / "mask.npy", mask)
    (tmp_path / "ours.json").write_text(json.dumps(encode_mask(mask)))
    code = """import json, sys, numpy as np
from label_studio_sdk.converter.brush import decode_rle, mask2rle
d = sys.argv[1]; mask = np.load(d + "/mask.npy")
ours = np.reshape(decode_rle(json.load(open(d + "/ours.json"))), (70, 90, 4))[:, :, 3]
print(json.dumps({"ours_decoded": bool((ours == 255 * mask).all()), "sdk": mask2rle(mask.astype(np.uint8) * 255)}))"""
    done = subprocess.run([str(VENV / "bin" / "python"), "-c", code, str(tmp_path)], capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["ours_decoded"]
    assert np.array_equal(decode_mask(out["sdk"], 70, 90), mask)


def _start(stack: ExitStack, tmp_path: Path, model: Path, images: Path) -> tuple[LabelStudio, ServerProcess]:
    """Label Studio and gnrcnn's backend, started side by side (each takes seconds)."""
    ls = LabelStudio(tmp_path)
    backend = ServerProcess(model, tmp_path / "backend.log", "--label-studio", "--score-thr", "0.05", "--train-dir",
                            str(tmp_path / "runs"), "--train-iters", "2", key=None)  # fmt: skip
    with ThreadPoolExecutor(2) as pool:
        started = [pool.submit(stack.enter_context, ls), pool.submit(stack.enter_context, backend)]
        for f in started:
            f.result()
    return ls, backend


def test_label_studio_round_trip(quick_demo, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    val = quick_demo.out / "data" / "val"
    images = sorted(val.glob("*.png"))[:3]
    with ExitStack() as stack:
        ls, backend = _start(stack, tmp_path, quick_demo.model, val)
        args = {"url": ls.url, "token": ls.token, "backend": backend.url, "label_config": CONFIG,
                "images": [str(p) for p in images], "out": str(tmp_path / "out"), "train": True}  # fmt: skip
        done = ls.python(SCRIPTS / "label_studio_loop.py", json.dumps(args), timeout=400)  # its waits: 240 s at most
        assert done.returncode == 0, f"{done.stderr[-3000:]}\nLabel Studio:\n{ls.log()[-3000:]}\n{backend.log()}"
        loop = json.loads(done.stdout.splitlines()[-1])
        (tmp_path / "loop.json").write_text(done.stdout)  # for a look after a failure
        health = httpx.get(f"{backend.url}/health", timeout=10).json()
    assert loop["backend_state"].endswith("CO") or "CONNECTED" in loop["backend_state"], loop["backend_state"]
    assert health["status"] == "UP"
    assert all(data["photo"].startswith("/data/upload/") for data in loop["task_data"].values()), loop["task_data"]
    results, first = [], set()
    for task in loop["tasks"]:
        (pred,) = loop["predictions"][str(task)]  # one prediction per task, from gnrcnn
        first.add(pred["model_version"])
        results += pred["result"]
    assert len(first) == 1 and first.pop().startswith("gnrcnn-shapes-demo_r18_fpn_gn-all-")
    assert results, f"no pre-labels at all:\n{backend.log()}"
    assert {r["type"] for r in results} == {"polygonlabels"}
    assert {r["from_name"] for r in results} == {"shapes"} and {r["to_name"] for r in results} == {"img"}
    assert {r["value"]["polygonlabels"][0] for r in results} <= {"Circle", "Box"}
    assert all(0 <= r["score"] <= 1 for r in results)
    # Start Training: the backend fine-tunes 2 iterations on the project's export (the three accepted
    # annotations, imported by import-data's reader); the predictions asked for after it are the new model's.
    assert loop["training"]["state"] == "done", f"{loop['training']}\n{backend.log()}"
    assert loop["training"]["message"] == "trained 2 iterations on 3 images"
    new = [p for task in loop["tasks"] for p in loop["predictions_after_training"][str(task)]
           if p["model_version"] != pred["model_version"]]  # fmt: skip
    assert len(new) == len(loop["tasks"]) and {p["model_version"] for p in new} == {health["model_version"]}
    assert health["classes"] == ["circle", "triangle", "rectangle"]  # Circle, Box trained as circle, rectangle
    assert "re-initialised" not in backend.log()  # so the class-specific layers were fine-tuned, not replaced
    assert {r["value"]["polygonlabels"][0] for p in new for r in p["result"]} <= {"Circle", "Box"}
    warning = [ln for ln in backend.log().splitlines() if "'triangle'" in ln]
    assert len(warning) == 1 and "match no label of <shapes> (Circle, Box, Star)" in warning[0], backend.log()

    # The export (each task's prediction accepted as its annotation), imported by the command.
    export = tmp_path / "out" / "export.json"
    coco_dir = tmp_path / "coco"
    assert main(["import-data", str(export), "--images", str(val), "--out", str(coco_dir)]) == 0
    text = capsys.readouterr().out
    coco = json.loads((coco_dir / "annotations.json").read_text())
    assert sorted(i["file_name"] for i in coco["images"]) == sorted(p.name for p in images), text
    assert len(coco["annotations"]) == len(results), text
    assert [c["name"] for c in coco["categories"]] == ["Box", "Circle"]
