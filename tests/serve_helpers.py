"""A real `gnrcnn serve` process on a free loopback port, started and stopped inside a test: forked with the
imports done (tests/forked.py), so its peak memory is compared before and after, not read alone."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from forked import Forked

KEY = "test-key-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


class ServerProcess:
    """``with ServerProcess(ckpt, log, "--queue", "2") as srv:`` -> srv.url, srv.client (key sent)."""

    def __init__(self, weights: Path, log: Path, *args: str, key: str | None = KEY) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.key = key
        self.argv = ["serve", "--weights", str(weights), "--port", str(self.port), *args]
        self.proc: Forked | None = None
        self.client = httpx.Client(base_url=self.url, timeout=120, headers={"X-API-Key": key} if key else {})

    def __enter__(self) -> ServerProcess:
        env = dict(os.environ)
        if self.key:
            env["GNRCNN_API_KEY"] = self.key  # the environment variable, as a deployment would pass it
        self.proc = Forked(self.argv, self.log_path, env)
        deadline = time.monotonic() + 240  # building the model on a busy 2-core machine
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.poll()}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise AssertionError(f"server not ready in 240 s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 120) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(60)
            raise AssertionError(f"server still running {timeout} s after SIGTERM:\n{self.log()}") from None

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        if self.proc is not None and self.proc.poll() is None:
            self.terminate()


@contextlib.contextmanager
def app_in_thread(app) -> Iterator[httpx.Client]:
    """The app under uvicorn in a thread of this process (a model already loaded here), on a free port."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{server.config.port}", timeout=120) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(120)
