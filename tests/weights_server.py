"""A throw-away HTTP server on 127.0.0.1 for download tests: serves given bytes by path, or misbehaves."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Served:
    url: str  # http://127.0.0.1:<port>
    requests: list[str] = field(default_factory=list)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server = self.server
        server.served.requests.append(self.path)  # type: ignore[attr-defined]
        body = server.files.get(self.path)  # type: ignore[attr-defined]
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in server.drop:  # type: ignore[attr-defined]
            # Promise the whole file, send half, hang up (HTTP/1.0: the server closes after the response).
            self.wfile.write(body[: len(body) // 2])
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(files: dict[str, bytes], drop: tuple[str, ...] = ()) -> Iterator[Served]:
    """Serve ``files`` (URL path -> bytes) until the block ends; paths in ``drop`` are cut off halfway."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    served = Served(f"http://127.0.0.1:{srv.server_address[1]}")
    srv.files, srv.drop, srv.served = files, set(drop), served  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
