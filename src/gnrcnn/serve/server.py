"""Running the app under uvicorn: the address check, the startup line, a graceful stop on SIGTERM."""

from __future__ import annotations

import ipaddress
import signal
import socket
import sys

from starlette.applications import Starlette

from ..errors import GnrcnnError
from ..predict.detector import Detector
from .app import create_app
from .options import ServeOptions


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def check_address(host: str, port: int) -> None:
    """One clear line now, rather than uvicorn's log line later, when the address cannot be listened on."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            sock.bind(infos[0][4])
    except OSError as e:
        raise GnrcnnError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None


def serve(detector: Detector, options: ServeOptions, log_level: str = "info", app: Starlette | None = None,
          what: str = "") -> int:  # fmt: skip
    """Serve until SIGTERM or SIGINT; both finish the requests already admitted, then return 0. ``app``:
    another application for the model (``label_studio.py``'s), ``what`` its name on the startup line."""
    import uvicorn

    check_address(options.host, options.port)
    if not is_loopback(options.host):
        guard = "API key required" if options.api_key else "NO API key (--api-key or GNRCNN_API_KEY)"
        print(f"warning: binding {options.host}: the model is reachable from other machines; {guard}",
              file=sys.stderr)  # fmt: skip
    config = uvicorn.Config(
        app or create_app(detector, options), host=options.host, port=options.port, log_level=log_level,
        timeout_graceful_shutdown=None,  # SIGTERM waits for every admitted request (each has its time limit)
        limit_concurrency=4 * options.queue + 32,  # a backstop against floods of connections
        server_header=False, proxy_headers=False,
    )  # fmt: skip
    server = uvicorn.Server(config)
    host = f"[{options.host}]" if ":" in options.host else options.host
    print(f"serve: {detector.cfg.name or 'model'} ({len(detector.class_names)} classes){what} on http://{host}:{options.port}"
          f"  queue {options.queue}, batch {options.max_batch}, timeout {options.timeout_s:g} s"
          f"{', API key required' if options.api_key else ''}", file=sys.stderr, flush=True)  # fmt: skip
    # uvicorn handles the signal itself (a graceful stop) and afterwards raises it again for the handler
    # it found installed: this one, which just records it, so the command ends normally.
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda s, _f: received.append(s)) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not server.started:
        return 1
    how = f"{signal.Signals(received[0]).name}: " if received else ""
    print(f"serve: {how}stopped after finishing every admitted request", file=sys.stderr)
    return 0
