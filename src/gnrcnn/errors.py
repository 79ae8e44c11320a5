"""The one exception type users see: a single line naming what is wrong and where."""

from pathlib import Path


class GnrcnnError(Exception):
    """An error caused by the user's input (a file, a config, a checkpoint), not by a bug.

    The command line prints ``error: <message>`` and exits non-zero without a traceback.
    """


def read_input_file(path: str | Path, kind: str) -> bytes:
    """A user's file as bytes, or one line saying why not (``kind``: "image", "weights", ...)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise GnrcnnError(f"{path}: {kind} file not found") from None
    except IsADirectoryError:
        raise GnrcnnError(f"{path}: is a folder, not a {kind} file") from None
    except OSError as e:
        raise GnrcnnError(f"{path}: cannot read {kind} file ({e.strerror or e})") from None
    if not data:
        raise GnrcnnError(f"{path}: {kind} file is empty")
    return data
