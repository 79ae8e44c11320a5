"""A stand-in for the Hugging Face Hub on 127.0.0.1: one repository's folder, served the way the Hub serves files.

What ``huggingface_hub.hf_hub_download`` relies on (its ``file_download.py`` and ``utils/_http.py``):
``HEAD``/``GET {endpoint}/{repo}/resolve/{revision}/{file}`` answered with ``X-Repo-Commit`` (the commit
the revision points at), ``ETag`` and ``Content-Length``; a large (LFS) file answered with a 302 to
another host (here a second server: the "CDN") carrying ``X-Linked-Etag`` (its SHA-256) and
``X-Linked-Size``, the metadata the client takes from the redirect itself before it downloads from the
``Location``; errors as 404s with ``X-Error-Code: RevisionNotFound``, ``EntryNotFound`` or
``RepoNotFound``, which the client turns into its own exceptions.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS_SUFFIXES = (".safetensors", ".pth", ".bin")


@dataclass
class Hub:
    endpoint: str
    cdn: str
    requests: list[str] = field(default_factory=list)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for k, v in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "GET" and body:
            self.wfile.write(body)

    def _error(self, code: str) -> None:
        self._answer(404, {"X-Error-Code": code, "X-Error-Message": code, "X-Repo-Commit": COMMIT,
                           "Content-Length": "0"})  # fmt: skip

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        srv = self.server
        srv.hub.requests.append(f"{self.command} {self.path}")  # type: ignore[attr-defined]
        if srv.role == "cdn":  # type: ignore[attr-defined]
            body = srv.blobs.get(self.path.split("?")[0].rsplit("/", 1)[-1])  # type: ignore[attr-defined]
            if body is None:
                return self._error("EntryNotFound")
            return self._answer(200, {"ETag": f'"{hashlib.sha256(body).hexdigest()}"'}, body)
        parts = self.path.split("?")[0].lstrip("/").split("/", 4)
        if len(parts) < 5 or parts[2] != "resolve":
            return self._error("RepoNotFound")
        repo, revision, name = f"{parts[0]}/{parts[1]}", parts[3], parts[4]
        if repo != srv.repo:  # type: ignore[attr-defined]
            return self._error("RepoNotFound")
        if revision not in ("main", COMMIT):
            return self._error("RevisionNotFound")
        path = srv.folder / name  # type: ignore[attr-defined]
        if ".." in name or not path.is_file():
            return self._error("EntryNotFound")
        body = path.read_bytes()
        if path.suffix in LFS_SUFFIXES:
            sha = hashlib.sha256(body).hexdigest()
            srv.blobs[sha] = body  # type: ignore[attr-defined]
            return self._answer(302, {"Location": f"{srv.hub.cdn}/lfs/{sha}?signed=1", "X-Repo-Commit": COMMIT,  # type: ignore[attr-defined]
                                      "X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(len(body))})  # fmt: skip
        git_sha1 = hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()
        return self._answer(200, {"ETag": f'"{git_sha1}"', "X-Repo-Commit": COMMIT}, body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve_repo(repo: str, folder: Path) -> Iterator[Hub]:
    """Serve ``folder`` as the Hub repository ``repo`` (revisions ``main`` and ``COMMIT``) until the block ends."""
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler) for _ in range(2)]
    hub_srv, cdn_srv = servers
    hub = Hub(*(f"http://127.0.0.1:{s.server_address[1]}" for s in servers))
    blobs: dict[str, bytes] = {}
    for s, role in ((hub_srv, "hub"), (cdn_srv, "cdn")):
        s.role, s.hub, s.repo, s.folder, s.blobs = role, hub, repo, Path(folder), blobs  # type: ignore[attr-defined]
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True) for s in servers]
    for t in threads:
        t.start()
    try:
        yield hub
    finally:
        for s, t in zip(servers, threads):
            s.shutdown()
            s.server_close()
            t.join(timeout=10)
