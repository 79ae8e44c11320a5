"""Every file gnrcnn writes goes through here: to a temporary file, fsync, rename over the target.

A crash, a kill or a full disk leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import torch

from .errors import GnrcnnError


@contextlib.contextmanager
def atomic_open(path: str | Path, kind: str = "file", sync: bool = True, unique: bool = False) -> Iterator[IO[bytes]]:
    """A binary file to write ``path`` through: ``<dir>/.<name>.tmp``, fsync, rename, fsync the folder.

    The previous file at ``path`` stays intact until the new one is complete on disk; a failure is
    one line naming the file and ``kind`` ("checkpoint", "results", ...). ``sync=False`` skips the
    fsyncs (the rename stays atomic): for many small files that can be made again, like pictures.
    ``unique=True`` puts the process id in the temporary name, for a file that several processes
    may write at once (a download shared by the ranks of a torchrun job): each writes its own.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp" if unique else f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if sync:
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        reason = e.strerror or str(e)
        raise GnrcnnError(f"{path}: cannot write {kind} ({reason}); the previous one is untouched") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(data: bytes, path: str | Path, kind: str = "file", sync: bool = True) -> None:
    with atomic_open(path, kind, sync) as f:
        f.write(data)


def write_text_atomic(text: str, path: str | Path, kind: str = "file") -> None:
    write_bytes_atomic(text.encode("utf-8"), path, kind)


def write_json_atomic(obj: Any, path: str | Path, kind: str = "results", indent: int | None = None) -> None:
    write_text_atomic(json.dumps(obj, indent=indent), path, kind)


def save_torch_atomic(obj: Any, path: str | Path, kind: str = "checkpoint") -> None:
    """``torch.save`` of ``obj``, streamed to the temporary file and renamed into place."""
    with atomic_open(path, kind) as f:
        torch.save(obj, f)
