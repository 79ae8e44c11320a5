"""Writing checkpoints so that a crash or a full disk never leaves a broken or missing file."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import torch

from ..errors import GnrcnnError


def save_atomic(obj: Any, path: str | Path) -> None:
    """torch.save to ``<path>.tmp``, fsync, rename over ``path``, fsync the folder.

    The previous file at ``path`` stays intact until the new one is complete on disk.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        reason = e.strerror or str(e)
        raise GnrcnnError(f"{path}: cannot write checkpoint ({reason}); the previous one is untouched") from None
