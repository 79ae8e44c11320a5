"""``gnrcnn serve``: a model behind an HTTP API and a web page (the work is in ``gnrcnn.serve``)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import GnrcnnError
from ..fileio import sha256_file
from . import common

KEY_ENV = "GNRCNN_API_KEY"
LS_URL_ENV, LS_TOKEN_ENV = "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"  # the names Label Studio's ML backends read


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn  # noqa: F401 (only checked here: the server imports it when it starts)

        from ..serve import ServeOptions, serve
    except ImportError as e:
        raise GnrcnnError(f"gnrcnn serve needs the 'serve' extra: pip install 'gnrcnn[serve]' ({e})") from None
    options = ServeOptions(
        host=args.host, port=args.port, api_key=args.api_key or os.environ.get(KEY_ENV) or None, queue=args.queue,
        timeout_s=args.timeout, max_upload_bytes=int(args.max_upload_mb * 1024 * 1024), max_pixels=int(args.max_pixels),
        max_batch=args.batch, weights_name=args.weights, weights_sha256=sha256_file(args.weights),
    )  # fmt: skip
    if not args.label_studio:
        return serve(common.load_detector(args), options)
    from ..serve.label_studio import LabelStudioOptions, create_label_studio_app

    if not 0 <= args.score_thr <= 1 or args.tolerance < 0 or args.train_iters < 1:
        raise GnrcnnError("--score-thr must be in [0, 1], --tolerance >= 0 and --train-iters >= 1")
    if args.images and not os.path.isdir(args.images):
        raise GnrcnnError(f"--images {args.images}: no such folder")
    ls = LabelStudioOptions(url=args.label_studio_url or os.environ.get(LS_URL_ENV) or None,
                            token=os.environ.get(LS_TOKEN_ENV) or None,
                            images=Path(args.images) if args.images else None,
                            score_thr=args.score_thr, tolerance=args.tolerance,
                            train_dir=Path(args.train_dir) if args.train_dir else None,
                            train_iters=args.train_iters)  # fmt: skip
    detector = common.load_detector(args)
    app = create_label_studio_app(detector, options, ls)
    return serve(detector, options, app=app, what=" as a Label Studio ML backend")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="an HTTP API and a web page for a model")
    common.add_model(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key", help=f"require this key on every endpoint but /health (default: ${KEY_ENV})")
    p.add_argument("--queue", type=int, default=16,
                   help="requests admitted at once, waiting or running; more are answered 503")  # fmt: skip
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request, upload to reply")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest request body")
    p.add_argument("--max-pixels", type=float, default=40e6,
                   help="largest image (width x height), checked from its header before decoding")  # fmt: skip
    p.add_argument("--batch", type=int, default=1,
                   help="run up to this many waiting images of the same size as one batch")  # fmt: skip
    common.add_inference(p, batching=False)
    ls = p.add_argument_group("Label Studio ML backend (docs/labelling.md)")
    ls.add_argument("--label-studio", action="store_true",
                    help="answer Label Studio's ML backend protocol (/health, /setup, /predict)")  # fmt: skip
    ls.add_argument("--label-studio-url", metavar="URL",
                    help=f"Label Studio's address for task images when its /setup did not say (default: ${LS_URL_ENV}; "
                    f"the token: ${LS_TOKEN_ENV})")  # fmt: skip
    ls.add_argument("--images", metavar="DIR", help="read task images from this folder when they are there (Label "
                    "Studio's uploads folder or local-files document root) instead of fetching them")  # fmt: skip
    ls.add_argument("--score-thr", type=float, default=0.5,
                    help="detections below this are not pre-labels (default 0.5)")  # fmt: skip
    ls.add_argument("--tolerance", type=float, default=0.5,
                    help="polygon simplification in pixels (Douglas-Peucker; 0: every pixel corner)")  # fmt: skip
    ls.add_argument(
        "--train-dir",
        metavar="DIR",
        help="let Label Studio's Start Training fine-tune the model (one "
        "run at a time, in the background) with its runs in DIR; the next predictions use the new weights",
    )
    ls.add_argument("--train-iters", type=int, default=300,
                    help="iterations of each such fine-tune (default 300)")  # fmt: skip
    p.set_defaults(func=cmd_serve)
