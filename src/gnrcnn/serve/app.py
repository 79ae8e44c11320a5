"""The Starlette application: routes, the API key, JSON errors, the page's assets from memory."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..data.image_io import ImageTooLargeError, decode_image_bytes
from ..errors import GnrcnnError
from ..predict.detector import Detector
from ..predict.loop import make_runner
from ..predict.runner import Prepared, Runner
from ..version import __version__
from .access import ApiKeyGuard
from .jobs import InferenceQueue, Job
from .options import ServeOptions
from .replies import ReplyOptions, detections_json, overlay_png, select
from .upload import RequestError, body_kind, image_bytes, read_body

ASSETS = {"/": ("index.html", "text/html; charset=utf-8"), "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/style.css": ("style.css", "text/css; charset=utf-8")}  # fmt: skip
# The page loads nothing from elsewhere: the browser is told so, and refuses if it ever tried.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
                "base-uri 'none'; frame-ancestors 'none'", "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-cache"}  # fmt: skip


@dataclass
class Prediction:
    """What a /predict request produced, with its timings (monotonic seconds)."""

    image: Any  # H x W x 3 uint8
    instances: Any
    job: Job
    admitted: float
    read: float
    decoded: float


def create_app(detector: Detector, options: ServeOptions) -> Starlette:
    """The app for ``detector``, whose images go through the runner its config's ``predict`` section asks for."""
    queue = InferenceQueue(make_runner(detector), capacity=options.queue, max_batch=options.max_batch)
    assets = {path: (resources.files(__package__).joinpath("static", name).read_bytes(), ctype)
              for path, (name, ctype) in ASSETS.items()}  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        queue.start()
        yield
        await queue.stop()

    async def page(request: Request) -> Response:
        body, ctype = assets[request.url.path]
        return Response(body, media_type=ctype, headers=PAGE_HEADERS)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "waiting": len(queue.waiting), "running": queue.running,
                             "admitted": queue.admitted, "capacity": queue.capacity,
                             "served": queue.served})  # fmt: skip

    async def model(request: Request) -> Response:
        return JSONResponse(model_info(detector, options))

    async def predict_json(request: Request) -> Response:
        opts = reply_options(request.query_params, default_thr=0.0)
        pred = await run_prediction(request, queue, options)
        replied = await run_in_threadpool(_json_reply, detector, pred, opts)
        return JSONResponse(replied)

    async def predict_png(request: Request) -> Response:
        opts = reply_options(request.query_params, default_thr=0.3)
        pred = await run_prediction(request, queue, options)
        png = await run_in_threadpool(overlay_png, pred.image, select(pred.instances, opts))
        return Response(png, media_type="image/png", headers={"X-Timings-Ms": _timings_header(pred)})

    routes = [Route(path, page) for path in ASSETS]
    routes += [Route("/health", health), Route("/model", model), Route("/predict", predict_json, methods=["POST"]),
               Route("/predict.png", predict_png, methods=["POST"])]  # fmt: skip
    handlers: dict[Any, Any] = {RequestError: _problem, HTTPException: _http_exception, Exception: _internal}
    return Starlette(routes=routes, middleware=[Middleware(ApiKeyGuard, key=options.api_key)],
                     exception_handlers=handlers, lifespan=lifespan)  # fmt: skip


async def run_prediction(request: Request, queue: InferenceQueue, options: ServeOptions) -> Prediction:
    """Admission, upload, decode and inference of one request, each refused with its own status."""
    kind, boundary = body_kind(request.headers.get("content-type"))
    if not queue.admit():
        wait = queue.retry_after()
        raise RequestError(503, f"busy: {queue.admitted} requests admitted (--queue {queue.capacity}); "
                               f"retry in {wait} s", {"Retry-After": str(wait)})  # fmt: skip
    admitted = time.monotonic()
    deadline = admitted + options.timeout_s
    job: Job | None = None
    try:
        try:
            body = await asyncio.wait_for(read_body(request, options.max_upload_bytes), options.timeout_s)
        except asyncio.TimeoutError:
            raise RequestError(408, f"the upload took longer than the time limit of {options.timeout_s:g} s") from None
        data, name = image_bytes(kind, boundary, body)
        read = time.monotonic()
        image, prepared = await run_in_threadpool(decode_and_prepare, queue.runner, data, name, options.max_pixels)
        decoded = time.monotonic()
        job = queue.job(prepared, deadline)
        try:
            instances = await queue.infer(job)
        except asyncio.TimeoutError:
            where = "waiting for the model" if job.state == "waiting" else "in the model"
            raise RequestError(504, f"no result within the time limit of {options.timeout_s:g} s ({where}; "
                                   f"{queue.seconds_per_image:.2f} s per image now)") from None  # fmt: skip
        return Prediction(image, instances, job, admitted, read, decoded)
    finally:
        queue.finish(job)


def decode_and_prepare(runner: Runner, data: bytes, name: str, max_pixels: int) -> tuple[Any, Prepared]:
    """The image and its model inputs (decoded and resized here, in a worker thread, off the model's)."""
    try:
        image = decode_image_bytes(data, name, max_pixels)
        return image, runner.prepare(image, name, keep_image=False)
    except ImageTooLargeError as e:
        raise RequestError(413, f"{e} (--max-pixels)") from None
    except GnrcnnError as e:
        raise RequestError(400, str(e)) from None


def reply_options(query: QueryParams, default_thr: float) -> ReplyOptions:
    """score_thr in [0, 1], max_detections >= 0, masks true/false; anything else is a 400."""
    unknown = sorted(set(query) - {"score_thr", "max_detections", "masks"})
    if unknown:
        raise RequestError(400, f"unknown query option {unknown[0]!r} (known: score_thr, max_detections, masks)")
    try:
        thr = float(query.get("score_thr", default_thr))
        limit = query.get("max_detections")
        max_dets = int(limit) if limit is not None else None
    except ValueError:
        raise RequestError(400, "score_thr must be a number in [0, 1], max_detections a whole number >= 0") from None
    if not (math.isfinite(thr) and 0 <= thr <= 1) or (max_dets is not None and max_dets < 0):
        raise RequestError(400, "score_thr must be a number in [0, 1], max_detections a whole number >= 0")
    masks = query.get("masks", "true").lower()
    if masks not in ("true", "false", "1", "0"):
        raise RequestError(400, f"masks must be true or false, not {masks[:20]!r}")
    return ReplyOptions(thr, max_dets, masks in ("true", "1"))


def _json_reply(detector: Detector, pred: Prediction, opts: ReplyOptions) -> dict[str, Any]:
    start = time.monotonic()
    inst = select(pred.instances, opts)
    detections = detections_json(inst)
    h, w = pred.image.shape[:2]
    timings = _timings(pred)
    timings["encode"] = round(1000 * (time.monotonic() - start), 1)
    timings["total"] = round(1000 * (time.monotonic() - pred.admitted), 1)
    return {"image": {"width": w, "height": h}, "detections": detections, "timings_ms": timings,
            "batch_size": pred.job.batch_size}  # fmt: skip


def _timings(pred: Prediction) -> dict[str, float]:
    job = pred.job
    spans = {"upload": (pred.admitted, pred.read), "decode": (pred.read, pred.decoded),
             "queue": (job.queued, job.started), "inference": (job.started, job.finished)}  # fmt: skip
    return {k: round(1000 * (b - a), 1) for k, (a, b) in spans.items()}


def _timings_header(pred: Prediction) -> str:
    return ", ".join(f"{k}={v}" for k, v in _timings(pred).items())


def model_info(detector: Detector, options: ServeOptions) -> dict[str, Any]:
    cfg = detector.cfg
    return {
        "config": cfg.name, "class_names": detector.class_names, "category_ids": list(cfg.data.category_ids),
        "weights": {"file": options.weights_name, "sha256": options.weights_sha256},
        "device": str(getattr(detector, "device", "cpu")), "precision": getattr(detector, "amp", None) or "fp32",
        "input": {"short": cfg.input.short, "long": cfg.input.long},
        "inference": {"tile": cfg.predict.tile, "tta": cfg.predict.tta},
        "limits": {"queue": options.queue, "timeout_s": options.timeout_s, "max_batch": options.max_batch,
                   "max_upload_bytes": options.max_upload_bytes, "max_pixels": options.max_pixels},
        "gnrcnn": __version__,
    }  # fmt: skip


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return JSONResponse({"error": exc.message}, exc.status, headers=exc.headers)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path[:100]
    messages = {404: f"no such endpoint: {path}", 405: f"{request.method} is not allowed on {path}"}
    message = messages.get(exc.status_code, exc.detail)
    return JSONResponse({"error": message}, exc.status_code, headers=dict(exc.headers or {}))


async def _internal(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this reply, so uvicorn logs the traceback.
    return JSONResponse({"error": f"internal error ({type(exc).__name__}); the server keeps running"}, 500)
