"""A real Label Studio on a free loopback port, from the data folder tests/scripts/label_studio_prepare.sh
migrated once (copied per test into a temporary folder: starting takes seconds, migrating took minutes).

Label Studio lives in its own venv (``$GNRCNN_LS_VENV``, default ``.venv-labelstudio``): it pins numpy and
OpenCV below gnrcnn's. The user and its legacy API token are the ones the prepare script created.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from serve_helpers import free_port

ROOT = Path(__file__).parent.parent
VENV = Path(os.environ.get("GNRCNN_LS_VENV", ROOT / ".venv-labelstudio"))
TEMPLATE = VENV / "template"
TOKEN = "gnrcnn0test0token0123456789"  # tests/scripts/label_studio_prepare.sh's --user-token
START_TIMEOUT_S = 120


def missing() -> str | None:
    """Why no Label Studio can be started here, or None."""
    if not (VENV / "bin" / "label-studio").is_file():
        return f"no Label Studio venv at {VENV} (run tests/scripts/label_studio_prepare.sh, as make test does)"
    if not (TEMPLATE / "READY").is_file():
        return f"no migrated Label Studio data folder at {TEMPLATE} (run tests/scripts/label_studio_prepare.sh)"
    return None


class LabelStudio:
    """``with LabelStudio(tmp_path) as ls:`` -> ls.url, ls.token, ls.data (its data folder)."""

    def __init__(self, work: Path) -> None:
        self.data = work / "label-studio-data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = TOKEN
        self.log_path = work / "label-studio.log"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> LabelStudio:
        shutil.copytree(TEMPLATE, self.data)
        # Label Studio refuses ML backends (ML_BLOCK_LOCAL_IP) and the webhook it makes for one
        # (SSRF_PROTECTION_ENABLED) on loopback addresses, and ours is on 127.0.0.1.
        env = dict(os.environ, LABEL_STUDIO_BASE_DATA_DIR=str(self.data), LABEL_STUDIO_LATEST_VERSION_CHECK="false",
                   LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true", LABEL_STUDIO_ML_BLOCK_LOCAL_IP="false",
                   LABEL_STUDIO_SSRF_PROTECTION_ENABLED="false", PYTHONPATH="")  # fmt: skip
        cmd = [str(VENV / "bin" / "label-studio"), "start", "--data-dir", str(self.data), "--port", str(self.port),
               "--internal-host", "127.0.0.1", "--host", self.url, "--no-browser"]  # fmt: skip
        self._log = open(self.log_path, "wb")  # closed in __exit__
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"Label Studio exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        self.__exit__()
        raise AssertionError(f"Label Studio not ready in {START_TIMEOUT_S} s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: the server and any worker it started
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()

    def python(self, script: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        """Run ``script`` with Label Studio's venv's python (where its SDK is)."""
        env = dict(os.environ, PYTHONPATH="")
        return subprocess.run([str(VENV / "bin" / "python"), str(script), *args], capture_output=True, text=True,
                              timeout=timeout, env=env)  # fmt: skip
