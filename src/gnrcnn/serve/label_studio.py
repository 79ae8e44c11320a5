"""``gnrcnn serve --label-studio``: the model as a Label Studio ML backend (its HTTP protocol, as the
label-studio-ml package serves it).

- ``GET /health`` (and ``/``): ``{"status": "UP", ...}``: Label Studio checks it when the backend is connected.
- ``POST /setup`` ``{"project": "ID.TIME", "schema": XML, "hostname", "access_token"}`` -> ``{"model_version"}``;
  the project's labelling config is checked (``ls_project.py``) and its address and token kept for images.
- ``POST /predict`` ``{"tasks": [...], "project", "label_config"}`` -> ``{"results": [{"result": [...],
  "score", "model_version"}, ...]}``, one entry per task in order. A task whose image cannot be had gets
  ``[]`` (no prediction, one warning line), so Label Studio stores nothing wrong for it.
- ``POST /webhook``: with ``--train-dir``, ``START_TRAINING`` (the project's "Start Training") runs one
  fine-tune in the background (``ls_training.py``); when it finishes, the new weights serve the next
  predictions under a new model version. Other events are answered and ignored.

Each task's image goes through the same bounded queue and inference thread as ``gnrcnn serve``'s own
/predict (``jobs.py``, the shared runner of ``predict/loop.py``): a task takes a slot before its image is
fetched, so at most ``--queue`` images are in memory, and waits for one up to the request's time limit
rather than being refused, since Label Studio sends all its tasks in one request.
A prediction's score is the mean of its regions' scores (``labels/labelstudio.prediction``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..api import load_model
from ..fileio import sha256_file
from ..labels.labelstudio import prediction
from ..labels.objects import from_instances
from ..predict.detector import Detector
from ..predict.loop import make_runner
from ..version import __version__
from .access import ApiKeyGuard
from .app import decode_and_prepare
from .jobs import InferenceQueue
from .ls_images import ImageFetchError, ImageSource, image_bytes
from .ls_project import LabelConfigError, ProjectLabels, parse_config, task_results, warn_unmatched
from .ls_training import FineTuner
from .options import ServeOptions
from .upload import RequestError, read_body


@dataclass(frozen=True)
class LabelStudioOptions:
    url: str | None = None  # Label Studio's address when /setup has not given it (--label-studio-url)
    token: str | None = None  # its API token when /setup has not given it ($LABEL_STUDIO_API_KEY)
    images: Path | None = None  # read task images from this folder when they are there (--images)
    score_thr: float = 0.5  # detections below it are not pre-labels
    tolerance: float = 0.5  # polygon simplification, pixels
    train_dir: Path | None = None  # fine-tunes started from Label Studio go here (None: training not offered)
    train_iters: int = 300


@dataclass
class Projects:
    """What /setup and /predict told us, per Label Studio project id."""

    sources: dict[str, ImageSource] = field(default_factory=dict)
    configs: dict[tuple[str, str], ProjectLabels] = field(default_factory=dict)
    warned: set[tuple[str, tuple[str, ...]]] = field(default_factory=set)  # each project's unmatched classes, said

    def labels(self, project: str, xml: str, class_names: list[str]) -> ProjectLabels:
        key = (project, xml)
        if key not in self.configs:
            self.configs[key] = parse_config(xml, class_names)
            said = (project, tuple(self.configs[key].unmatched))
            if said not in self.warned:
                self.warned.add(said)
                warn_unmatched(project, self.configs[key])
        return self.configs[key]


def model_version(detector: Detector, options: ServeOptions) -> str:
    digest = (options.weights_sha256 or "")[:12]
    return f"gnrcnn-{detector.cfg.name or 'model'}" + (f"-{digest}" if digest else "")


def _project_id(value: Any) -> str:
    return str(value or "").split(".", 1)[0] or "?"


def _warn(message: str) -> None:
    print(f"warning: label-studio: {message}", file=sys.stderr, flush=True)


class LabelStudioBackend:
    """The protocol's endpoints over one model, its bounded queue and what each project told us."""

    def __init__(self, detector: Detector, options: ServeOptions, ls: LabelStudioOptions) -> None:
        self.detector, self.options, self.ls = detector, options, ls
        self.queue = InferenceQueue(make_runner(detector), capacity=options.queue, max_batch=options.max_batch)
        self.projects = Projects()
        self.version = model_version(detector, options)
        self.fallback = ImageSource(ls.url, ls.token, ls.images)
        self.tuner = (
            None
            if ls.train_dir is None
            else FineTuner(
                config=detector.cfg,
                weights=options.weights_name,
                work=ls.train_dir,
                iters=ls.train_iters,
                device=str(getattr(detector, "device", "cpu")),
                limit=options.max_upload_bytes,
                on_done=self._new_weights,
            )
        )
        self.loop: asyncio.AbstractEventLoop | None = None

    def _new_weights(self, weights: Path) -> None:
        """A fine-tune finished (in its thread): load its weights, and switch to them on the event loop."""
        detector = load_model(weights=str(weights), device=str(getattr(self.detector, "device", "cpu")))
        version = model_version(detector, replace(self.options, weights_sha256=sha256_file(str(weights))))
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self._switch, detector, version)

    def _switch(self, detector: Detector, version: str) -> None:
        # Images already prepared are resized by the same input settings: the new runner takes them as they are.
        self.detector, self.version = detector, version
        self.queue.runner = make_runner(detector)
        self.projects.configs.clear()  # the classes may have changed: each project's labels are matched again

    async def health(self, request: Request) -> Response:
        training = self.tuner.report() if self.tuner else "not offered (--train-dir)"
        return JSONResponse({"status": "UP", "model_class": "gnrcnn", "model_version": self.version,
                             "classes": self.detector.class_names, "training": training,
                             "gnrcnn": __version__})  # fmt: skip

    def _labels(self, project: str, xml: Any) -> ProjectLabels:
        try:
            return self.projects.labels(project, str(xml or ""), self.detector.class_names)
        except LabelConfigError as e:
            raise RequestError(422, f"project {project}: {e}") from None

    async def setup(self, request: Request) -> Response:
        body = await _json(request, self.options.max_upload_bytes)
        project = _project_id(body.get("project"))
        self._labels(project, body.get("schema"))
        url, token = body.get("hostname") or self.ls.url, body.get("access_token") or self.ls.token
        self.projects.sources[project] = ImageSource(url, token, self.ls.images)
        return JSONResponse({"model_version": self.version})

    async def predict(self, request: Request) -> Response:
        body = await _json(request, self.options.max_upload_bytes)
        project = _project_id(body.get("project"))
        tasks = body.get("tasks")
        if not isinstance(tasks, list):
            raise RequestError(400, "the body has no 'tasks' list")
        labels = self._labels(project, body.get("label_config"))
        source = self.projects.sources.get(project, self.fallback)
        deadline = time.monotonic() + self.options.timeout_s
        results = await asyncio.gather(*(self._predict_task(t, labels, source, deadline) for t in tasks))
        return JSONResponse({"results": results, "model_version": self.version})

    async def _predict_task(self, task: Any, labels: ProjectLabels, source: ImageSource, deadline: float) -> Any:
        """The task's prediction, or [] (none) with one warning line when its image cannot be had."""
        task_id = task.get("id", "?") if isinstance(task, dict) else "?"
        data = task.get("data") if isinstance(task, dict) else None
        ref = data.get(labels.data_key) if isinstance(data, dict) else None
        if not isinstance(ref, str):
            _warn(f"task {task_id}: no data.{labels.data_key} (the Image tag's value); no prediction")
            return []
        try:
            image, instances = await self._run(ref, source, deadline)
        except (ImageFetchError, RequestError) as e:
            _warn(f"task {task_id}: {getattr(e, 'message', e)}; no prediction")
            return []
        h, w = image.shape[:2]
        objects = await run_in_threadpool(from_instances, instances, self.ls.score_thr)
        result = await run_in_threadpool(task_results, objects, labels, w, h, self.ls.tolerance)
        return prediction(result, self.version)

    async def _run(self, ref: str, source: ImageSource, deadline: float) -> tuple[Any, Any]:
        """(image, detections) of one task. It takes a slot of the queue before its image is fetched (so at
        most ``--queue`` images are in memory) and waits for one, since Label Studio sends every task at once."""
        queue, opts = self.queue, self.options
        while not queue.admit():
            if time.monotonic() > deadline:
                raise RequestError(504, f"no free slot within the time limit of {opts.timeout_s:g} s")
            await asyncio.sleep(0.05)
        job = None
        try:
            encoded = await run_in_threadpool(image_bytes, ref, source, opts.max_upload_bytes)
            image, prepared = await run_in_threadpool(decode_and_prepare, queue.runner, encoded, ref, opts.max_pixels)
            job = queue.job(prepared, deadline)
            return image, await queue.infer(job)
        except asyncio.TimeoutError:
            raise RequestError(504, f"no result within the time limit of {opts.timeout_s:g} s") from None
        finally:
            queue.finish(job)

    async def webhook(self, request: Request) -> Response:
        """Label Studio's events: START_TRAINING starts a fine-tune (one at a time); the others are noted."""
        body = await _json(request, self.options.max_upload_bytes)
        if body.get("action") != "START_TRAINING":
            return JSONResponse({"status": "ok", "result": f"{body.get('action')}: nothing to do"})
        if self.tuner is None:
            raise RequestError(409, "training from Label Studio is not offered: start gnrcnn serve with --train-dir")
        about = body.get("project") if isinstance(body.get("project"), dict) else {}
        project = _project_id(about.get("id"))
        labels = self._labels(project, about.get("label_config"))
        self.loop = asyncio.get_running_loop()
        if not self.tuner.start(project, self.projects.sources.get(project, self.fallback), labels.labels):
            raise RequestError(409, f"a fine-tune is running ({self.tuner.status.message}); one at a time")
        return JSONResponse({"status": "ok", "result": self.tuner.report()}, 201)


def create_label_studio_app(detector: Detector, options: ServeOptions, ls: LabelStudioOptions) -> Starlette:
    backend = LabelStudioBackend(detector, options, ls)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        backend.queue.start()
        yield
        await backend.queue.stop()

    routes = [Route("/", backend.health), Route("/health", backend.health),
              Route("/setup", backend.setup, methods=["POST"]), Route("/predict", backend.predict, methods=["POST"]),
              Route("/webhook", backend.webhook, methods=["POST"])]  # fmt: skip
    return Starlette(routes=routes, middleware=[Middleware(ApiKeyGuard, key=options.api_key)],
                     exception_handlers={RequestError: _problem}, lifespan=lifespan)  # fmt: skip


async def _json(request: Request, limit: int) -> dict[str, Any]:
    try:
        body = json.loads(await read_body(request, limit))
    except ValueError:
        raise RequestError(400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise RequestError(400, "the body is not a JSON object")
    return body


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return JSONResponse({"error": exc.message}, exc.status, headers=exc.headers)
