"""A real `gnrcnn serve` process on a free loopback port, started and stopped inside a test."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

SRC = Path(__file__).parent.parent / "src"
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
        self.cmd = [sys.executable, "-m", "gnrcnn", "serve", "--weights", str(weights), "--port", str(self.port), *args]
        self.proc: subprocess.Popen | None = None
        self.client = httpx.Client(base_url=self.url, timeout=120, headers={"X-API-Key": key} if key else {})

    def __enter__(self) -> ServerProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
        if self.key:
            env["GNRCNN_API_KEY"] = self.key  # the environment variable, as a deployment would pass it
        self._log = open(self.log_path, "wb")  # closed in __exit__
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 240  # importing torch and building the model on a busy 2-core machine
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
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
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"server still running {timeout} s after SIGTERM:\n{self.log()}") from None

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        if self.proc is not None and self.proc.poll() is None:
            self.terminate()
        self._log.close()


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
