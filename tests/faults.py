"""Real faults for the tests: a small tmpfs that fills up (a full disk), a read-only mount. Mounting needs
root and CAP_SYS_ADMIN (a container may refuse it): the tests that need one skip, saying why."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def tmpfs(where: Path, size_mb: int, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size_mb`` mounted at ``where`` for the block, unmounted after it."""
    where.mkdir(parents=True, exist_ok=True)
    opts = f"size={size_mb}m" + (",ro" if read_only else "")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True, text=True,
                         timeout=30)  # fmt: skip
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({res.stderr.strip() or res.returncode}): a real full or "
                    "read-only disk needs root and CAP_SYS_ADMIN")  # fmt: skip
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def fill(folder: Path, leave_bytes: int = 0) -> Path:
    """Fill ``folder``'s file system up to ``leave_bytes`` free, with one file (delete it to free the space)."""
    filler = folder / "filler.bin"
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    with open(filler, "wb") as f, contextlib.suppress(OSError):
        chunk = b"\0" * (1 << 20)
        for _ in range(max(0, free - leave_bytes) >> 20):
            f.write(chunk)
        f.write(b"\0" * ((max(0, free - leave_bytes)) & ((1 << 20) - 1)))
    return filler
