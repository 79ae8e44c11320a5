"""Fine-tuning from Label Studio: its "Start Training" (a ``START_TRAINING`` webhook) runs one fine-tune in
the background, and the predictions after it use the new weights.

One run at a time, in a thread of the server (the trainer's own signal handling stays with the main
thread). A run: the project's JSON export from Label Studio's API (the address and token its /setup
sent); each annotated task's image fetched into the run's folder, where ``import-data`` looks for it;
``import-data --format labelstudio`` of that, with the labels renamed to the model classes they stand
for (``in_model_names``); and ``gnrcnn.train_model`` from the weights being served, for ``iters``
iterations. On success ``on_done`` gets the new ``model_final.pth``; a failure is one line, and
/health says how the last run ended.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..data.importers import import_dataset
from ..data.importers.labelstudio import candidates, image_reference
from ..errors import GnrcnnError
from ..fileio import write_json_atomic
from .ls_images import FETCH_TIMEOUT_S, ImageFetchError, ImageSource, image_bytes


@dataclass
class TrainingStatus:
    state: str = "idle"  # idle | running | done | failed
    project: str = ""
    message: str = ""
    seconds: float = 0.0
    weights: str = ""  # the model_final.pth of the last run that finished


def fetch_export(source: ImageSource, project: str) -> list[dict[str, Any]]:
    """The project's tasks as Label Studio's JSON export (annotated tasks only)."""
    if not source.url:
        raise ImageFetchError(f"project {project}: Label Studio's address is unknown (no /setup call)")
    url = f"{source.url.rstrip('/')}/api/projects/{project}/export?exportType=JSON"
    headers = {"Authorization": f"Token {source.token}"} if source.token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=FETCH_TIMEOUT_S) as r:
            tasks = json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise ImageFetchError(f"project {project}: its export {url} could not be had ({e})") from None
    return tasks if isinstance(tasks, list) else []


def in_model_names(coco: dict[str, Any], to_label: dict[str, str], class_names: list[str]) -> dict[str, Any]:
    """The import with its categories renamed to the model classes their labels stand for (``to_label``: class
    -> the project's label). When every one is a model class, the categories are the model's classes in its
    order, so fine-tuning keeps its class-specific layers (``build.py`` keeps them only for the same list)."""
    back = {label: name for name, label in to_label.items()}
    names = {c["id"]: back.get(c["name"], c["name"]) for c in coco["categories"]}
    order = class_names if set(names.values()) <= set(class_names) else list(names.values())
    ids = {name: i + 1 for i, name in enumerate(order)}
    anns = [{**a, "category_id": ids[names[a["category_id"]]]} for a in coco["annotations"]]
    cats = [{"id": ids[n], "name": n, "supercategory": ""} for n in order]
    return {**coco, "annotations": anns, "categories": cats}


def gather_images(tasks: list[dict[str, Any]], source: ImageSource, images: Path, limit: int) -> int:
    """Fetch each annotated task's image to where ``import-data`` will look for it; the count fetched."""
    count = 0
    for task in tasks:
        ref = image_reference(task.get("data") or {}) if isinstance(task, dict) else None
        if ref is None or not task.get("annotations"):
            continue
        path = candidates(ref, images)[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image_bytes(ref, source, limit))
        count += 1
    return count


class FineTuner:
    """``start(project, source)`` one background fine-tune (False while one runs); ``status`` says how it goes."""

    def __init__(self, *, config: Any, weights: str | None, work: Path, iters: int, device: str, limit: int,
                 on_done: Callable[[Path], None]) -> None:  # fmt: skip
        self.config, self.weights, self.work, self.iters = config, weights, work, iters
        self.device, self.limit, self.on_done = device, limit, on_done
        self.status = TrainingStatus()
        self._lock = threading.Lock()
        self._runs = 0

    def start(self, project: str, source: ImageSource, to_label: dict[str, str]) -> bool:
        with self._lock:
            if self.status.state == "running":
                return False
            self._runs += 1
            self.status = TrainingStatus("running", project, f"run {self._runs}: fetching the export")
        run = self.work / f"project{project}-run{self._runs}"
        args = (project, source, to_label, run)
        threading.Thread(target=self._run, args=args, name="gnrcnn-ls-train", daemon=True).start()
        return True

    def _run(self, project: str, source: ImageSource, to_label: dict[str, str], run: Path) -> None:
        from ..api import train_model

        start = time.monotonic()
        try:
            tasks = fetch_export(source, project)
            run.mkdir(parents=True, exist_ok=True)
            (run / "export.json").write_text(json.dumps(tasks))
            fetched = gather_images(tasks, source, run / "images", self.limit)
            # The run's own folder (a restarted server counts runs from 1 again): its earlier import is replaced.
            imported = import_dataset(run / "export.json", run / "coco", "labelstudio", images=run / "images",
                                      overwrite=True)  # fmt: skip
            coco = in_model_names(imported.coco, to_label, list(self.config.data.class_names))
            write_json_atomic(coco, run / "coco" / "train.json", "COCO annotations")
            self.status.message = f"training {self.iters} iterations on {fetched} annotated images"
            result = train_model(self.config, data_root=imported.root, ann=run / "coco" / "train.json",
                                 work_dir=run / "train", weights=self.weights, max_iters=self.iters,
                                 device=self.device)  # fmt: skip
            if result.final is None:
                raise RuntimeError(f"the run ended {result.outcome} at iteration {result.iteration}")
            weights = result.final
            self.on_done(weights)
            self.weights = str(weights)
            self.status = TrainingStatus("done", project, f"trained {self.iters} iterations on {fetched} images",
                                         round(time.monotonic() - start, 1), str(weights))  # fmt: skip
        except (GnrcnnError, ImageFetchError, OSError, ValueError, RuntimeError) as e:
            seconds = round(time.monotonic() - start, 1)
            self.status = TrainingStatus("failed", project, f"{type(e).__name__}: {e}", seconds, self.status.weights)
            print(f"warning: label-studio project {project}: fine-tuning failed: {e}", file=sys.stderr, flush=True)

    def report(self) -> dict[str, Any]:
        return asdict(self.status)
