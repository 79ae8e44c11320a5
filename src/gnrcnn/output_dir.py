"""An output folder claimed before any work starts: writable, and not holding another run's files.

A second ``gnrcnn train`` in a used ``--work-dir`` once replaced the first run's ``model_final.pth`` in
silence, left its ``metrics.json`` and ``eval/`` beside the new model, and had its own checkpoint deleted by
retention (which keeps the highest-numbered files: the old run's). Every command that writes a folder of
results (train, predict, eval) now claims it first: one line and nothing done if the folder cannot be
written, or if it holds another run's files and the user said neither ``--resume`` (go on with that run)
nor ``--overwrite`` (clear that run's files first; other files are left alone).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import GnrcnnError


def check_writable(folder: Path) -> None:
    """One line, before an hour of work, if ``folder`` cannot be created or written (read-only file system,
    permissions, a file in the way). It probes by writing: permission bits say nothing to root."""
    probe = folder / f".gnrcnn-write-probe.{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise GnrcnnError(f"{folder}: cannot write here ({e.strerror or e}): choose another folder") from None


def run_files(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    """The files and folders in ``folder`` matching ``patterns`` (a run's own names), sorted."""
    if not folder.is_dir():
        return []
    return sorted({p for pattern in patterns for p in folder.glob(pattern)})


def claim(
    folder: str | Path, patterns: tuple[str, ...], *, resume: bool, overwrite: bool, flag: str, resumable: bool = True
) -> None:
    """Make ``folder`` ready for a run: writable, and with no earlier run's files unless ``resume``.

    ``patterns`` name what a run of this command leaves (``iter_*.pth``, ``metrics.json``, ...);
    ``flag`` is the option that picks the folder (``--work-dir``, ``--out``), for the message; ``resumable``:
    the command has a ``--resume`` to offer."""
    folder = Path(folder)
    check_writable(folder)
    if resume:
        return
    found = run_files(folder, patterns)
    if not found:
        return
    if not overwrite:
        names = ", ".join(p.name for p in found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")
        resume_hint = "add --resume to go on with that run, " if resumable else ""
        raise GnrcnnError(f"{flag} {folder} holds another run's files ({names}): {resume_hint}choose another "
                          f"{flag}, or add --overwrite to clear them first")  # fmt: skip
    for path in found:
        try:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        except OSError as e:
            raise GnrcnnError(f"{path}: cannot clear the earlier run's file ({e.strerror or e})") from None
