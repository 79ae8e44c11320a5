"""One labelling round against a running Label Studio, through its SDK (run by Label Studio's own venv's
python: tests/serve/test_label_studio.py; gnrcnn never imports the SDK).

argv[1]: JSON {"url", "token", "backend", "label_config", "images": [paths], "out": folder, "train": bool}.
1. create a project with the labelling config; 2. upload the images as tasks (the import API's file
upload, as the browser does it); 3. connect the ML backend; 4. ask for predictions of every task (the Data
Manager's "Retrieve Predictions" action) and read them back; 5. accept each task's prediction as its
annotation (what an annotator who changes nothing submits); 6. export the project as JSON to out/export.json;
7. with "train": Start Training, wait for the backend's fine-tune to end (its /health), and ask for
predictions again. Prints one JSON line: the project, its backend's state, the predictions read back
(and after training: the training status and the predictions then) and the timings.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx
from label_studio_sdk import LabelStudio


def main() -> None:
    args = json.loads(sys.argv[1])
    ls = LabelStudio(base_url=args["url"], api_key=args["token"], timeout=120)
    timings, start = {}, time.monotonic()

    def lap(name: str) -> None:
        nonlocal start
        timings[name] = round(time.monotonic() - start, 2)
        start = time.monotonic()

    project = ls.projects.create(title="gnrcnn labelling loop", label_config=args["label_config"])
    lap("create_project")
    files = [(f"file{i}", (Path(p).name, Path(p).read_bytes(), "image/png")) for i, p in enumerate(args["images"])]
    upload = httpx.post(f"{args['url']}/api/projects/{project.id}/import", files=files, timeout=120,
                        headers={"Authorization": f"Token {args['token']}"})  # fmt: skip
    upload.raise_for_status()
    tasks = list(ls.tasks.list(project=project.id))
    lap("import_images")
    backend = ls.ml.create(url=args["backend"], project=project.id, title="gnrcnn")
    lap("connect_backend")
    ls.actions.create(id="retrieve_tasks_predictions", project=project.id,
                      selected_items={"all": True, "excluded": []})  # fmt: skip
    predictions = {t.id: [p.model_dump(mode="json") for p in ls.predictions.list(task=t.id)] for t in tasks}
    lap("predict")
    for t in tasks:
        for p in predictions[t.id][:1]:
            ls.annotations.create(id=t.id, result=p["result"], parent_prediction=p["id"], project=project.id)
    export = b"".join(ls.projects.exports.download_sync(project.id, export_type="JSON"))
    out = Path(args["out"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "export.json").write_bytes(export)
    lap("annotate_and_export")
    state = ls.ml.get(backend.id).state
    report = {"project": project.id, "backend_state": str(state), "tasks": [t.id for t in tasks],
              "task_data": {t.id: t.data for t in tasks}, "predictions": predictions}  # fmt: skip
    if args.get("train"):
        report.update(train(ls, args["backend"], backend.id, project.id, tasks))
        lap("train_and_predict_again")
    print(json.dumps({**report, "timings_s": timings}))


def train(ls: LabelStudio, url: str, backend: int, project: int, tasks: list) -> dict:
    """Start Training (Label Studio sends the backend a START_TRAINING webhook), wait for the fine-tune to
    end (bounded), then Retrieve Predictions again."""
    ls.ml.train(id=backend)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        status = httpx.get(f"{url}/health", timeout=10).json()["training"]
        if status["state"] in ("done", "failed"):
            break
        time.sleep(0.5)
    ls.actions.create(id="retrieve_tasks_predictions", project=project,
                      selected_items={"all": True, "excluded": []})  # fmt: skip
    after = {t.id: [p.model_dump(mode="json") for p in ls.predictions.list(task=t.id)] for t in tasks}
    return {"training": status, "predictions_after_training": after}


if __name__ == "__main__":
    main()
