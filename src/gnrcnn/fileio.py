"""Every file gnrcnn writes goes through here: to a temporary file, fsync, rename over the target.

A crash, a kill or a full disk leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

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


def write_figure_atomic(fig: Any, path: str | Path) -> None:
    """A matplotlib figure as a PNG at ``path`` (atomically, no fsync: a picture can be drawn again);
    the figure is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    write_bytes_atomic(buf.getvalue(), path, "picture", sync=False)


def sha256_file(path: str | Path | None) -> str | None:
    """The SHA-256 of a local file (read in 1 MB blocks), None when ``path`` names none (a zoo name, a URL)."""
    if not path or not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomic(obj: Any, path: str | Path, kind: str = "results", indent: int | None = None) -> None:
    write_text_atomic(json.dumps(obj, indent=indent), path, kind)


def write_json_list_atomic(items: Iterable[Any], path: str | Path, kind: str = "results") -> None:
    """The bytes of ``json.dumps(list(items))``, written item by item: a results file of 500,000
    detections with masks is never one string in memory."""
    with atomic_open(path, kind) as f:  # a buffered file: many small writes are cheap
        f.write(b"[")
        for i, item in enumerate(items):
            f.write((", " if i else "").encode() + json.dumps(item).encode())
        f.write(b"]")


def save_torch_atomic(obj: Any, path: str | Path, kind: str = "checkpoint") -> None:
    """``torch.save`` of ``obj``, streamed to the temporary file and renamed into place."""
    import torch  # here, not at the top: the CLI imports this module before it knows it needs torch

    with atomic_open(path, kind) as f:
        sink = _KeepsWriteError(f)
        try:
            torch.save(obj, sink)
        except RuntimeError:
            # torch's zip writer turns the OSError of a failed write (a full disk) into "unexpected pos ...":
            # the OSError it swallowed is what the user needs to read
            if sink.error is not None:
                raise sink.error from None
            raise


class _KeepsWriteError:
    """A file's write and flush, remembering the first OSError they raised."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f, self.error = f, None

    def write(self, data: bytes) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = self.error or e
            raise

    def flush(self) -> None:
        self.f.flush()


@contextlib.contextmanager
def atomic_path(path: str | Path, kind: str = "file") -> Iterator[Path]:
    """A temporary path with ``path``'s suffix, for writers that open files by name (OpenCV's video
    writer picks the container by suffix), renamed over ``path`` when the block ends, also when it
    ends by an exception: what was written by then is kept. Nothing is renamed if nothing was written."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield tmp
    finally:
        if tmp.exists():
            try:
                os.replace(tmp, path)
            except OSError as e:
                raise GnrcnnError(f"{path}: cannot write {kind} ({e.strerror or e})") from None


class JsonLines:
    """An append-only JSON-lines file: each ``append`` writes one whole line and flushes it, so a crash
    loses at most the line being written. Opening it again with ``fresh=False`` keeps the complete
    lines and cuts off a torn last one before appending."""

    def __init__(self, path: str | Path, fresh: bool, kind: str = "results") -> None:
        self.path, self.kind, self.failed = Path(path), kind, False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # held open across appends, closed by close()
            self.file = open(self.path, "wb" if fresh or not self.path.exists() else "r+b")  # noqa: SIM115
            self.file.truncate(_complete_length(self.file))
            self.file.seek(0, os.SEEK_END)
        except OSError as e:
            raise GnrcnnError(f"{self.path}: cannot write {kind} ({e.strerror or e})") from None

    def append(self, obj: Any) -> None:
        try:
            self.file.write(json.dumps(obj).encode("utf-8") + b"\n")
            self.file.flush()
        except OSError as e:
            self.failed = True
            raise GnrcnnError(f"{self.path}: cannot write {self.kind} ({e.strerror or e})") from None

    def close(self) -> None:
        """Flush, fsync and close. After a failed append (a full disk) the file's buffer still holds what
        could not be written, and closing tries once more: that second failure is the same fault, already
        reported, and must not hide the first one's message (the lines written before stay whole; a torn
        last one is cut off by the next ``fresh=False`` open)."""
        try:
            with contextlib.suppress(OSError):
                os.fsync(self.file.fileno())
            self.file.close()
        except OSError as e:
            if not self.failed:
                raise GnrcnnError(f"{self.path}: cannot write {self.kind} ({e.strerror or e})") from None

    def __enter__(self) -> JsonLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _complete_length(f: IO[bytes], chunk: int = 1 << 16) -> int:
    """Bytes up to and including the last newline, found reading backwards from the end."""
    end = f.seek(0, os.SEEK_END)
    while end > 0:
        start = max(0, end - chunk)
        f.seek(start)
        at = f.read(end - start).rfind(b"\n")
        if at >= 0:
            return start + at + 1
        end = start
    return 0


def read_json_lines(path: str | Path) -> Iterator[Any]:
    """The records of a JSON-lines file, one at a time; a torn last line (a crash mid-write) is skipped,
    a broken line before it is one error line naming the file and the line."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                return  # torn by a crash: never completed, so never counted as done
            try:
                yield json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise GnrcnnError(f"{path}: line {number} is not JSON; remove it or start afresh") from None


def keep_json_lines(path: str | Path, keep: Callable[[Any], bool], kind: str = "log") -> list[Any]:
    """Rewrite a JSON-lines file atomically with only the records ``keep`` accepts (a torn last line goes
    too) and return them: a resumed job drops what it logged after its last checkpoint."""
    kept = [r for r in read_json_lines(path) if keep(r)]
    if Path(path).exists():
        write_bytes_atomic(b"".join(json.dumps(r).encode("utf-8") + b"\n" for r in kept), path, kind)
    return kept
