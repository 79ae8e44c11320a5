"""The server's settings, one typed record filled by ``gnrcnn serve``'s flags."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import GnrcnnError


@dataclass(frozen=True)
class ServeOptions:
    """Limits and access. Every limit is per process: one model, one inference at a time."""

    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None  # guards everything but /health
    queue: int = 16  # requests admitted at once (uploading, waiting or running); more get 503
    timeout_s: float = 60.0  # per request, from admission to the reply; then 408 (upload) or 504
    max_upload_bytes: int = 20 * 1024 * 1024  # a bigger body gets 413
    max_pixels: int = 40_000_000  # an image declaring more gets 413, before it is decoded
    max_batch: int = 1  # >1: run waiting requests of the same padded size as one batch
    weights_sha256: str | None = None  # shown by GET /model
    weights_name: str | None = None

    def __post_init__(self) -> None:
        checks = [(self.queue >= 1, "--queue must be >= 1"), (self.timeout_s > 0, "--timeout must be > 0"),
                  (self.max_upload_bytes > 0, "--max-upload-mb must be > 0"),
                  (self.max_pixels > 0, "--max-pixels must be > 0"), (self.max_batch >= 1, "--batch must be >= 1"),
                  (0 <= self.port <= 65535, f"--port {self.port}: not a port number"),
                  (self.api_key is None or _good_key(self.api_key),
                   "the API key must be at least 8 printable ASCII characters")]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise GnrcnnError(message)


def _good_key(key: str) -> bool:
    return len(key) >= 8 and key.isascii() and key.isprintable()
