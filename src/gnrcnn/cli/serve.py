"""``gnrcnn serve``: a model behind an HTTP API and a web page (the work is in ``gnrcnn.serve``)."""

from __future__ import annotations

import argparse
import os

from ..errors import GnrcnnError
from ..fileio import sha256_file
from . import common

KEY_ENV = "GNRCNN_API_KEY"


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
    return serve(common.load_detector(args), options)


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
    p.set_defaults(func=cmd_serve)
