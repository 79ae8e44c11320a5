"""Reading weight files without running any code they might carry.

``.pth``/``.pt`` files go through ``torch.load(weights_only=True)``; Python pickles (Detectron and
detectron2 ``.pkl``) through an unpickler that admits only numpy arrays and dtypes, dicts, lists,
tuples, strings, bytes and numbers; safetensors files (a JSON header and raw tensor bytes, no pickle)
through ``safetensors``. The format is told by content, never by file name.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import GnrcnnError, read_input_file
from .safetensors_file import is_safetensors, read_safetensors

# Globals a plain-data pickle of numpy arrays needs; anything else (os.system, eval, ...) is refused.
_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("_codecs", "encode"),  # Python 2 pickles of numpy arrays store raw bytes through it
}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        if module in ("numpy", "numpy.dtypes") and (name.endswith("DType") or name in ("float32", "float64", "int64")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load '{module}.{name}': only plain data may be unpickled")


def _torch_safe_globals() -> list[Any]:
    """numpy scalars and dtypes, which older MMDetection checkpoints keep in their ``meta``."""
    out: list[Any] = [np.dtype, np.ndarray]
    core = getattr(np, "_core", None) or np.core
    out += [core.multiarray.scalar, core.multiarray._reconstruct]
    out += [type(np.dtype(t)) for t in ("float32", "float64", "int64", "int32", "uint8", "bool")]
    return out


def read_pickle(data: bytes, where: str) -> Any:
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as e:
        raise GnrcnnError(f"{where}: {e}") from None
    except Exception as e:
        raise GnrcnnError(f"{where}: not a readable weights file ({type(e).__name__}: {e})") from None


def read_weights(path: str | Path) -> Any:
    """The object stored in a weights file (torch zip/legacy checkpoint or a plain-data pickle)."""
    path = Path(path)
    data = read_input_file(path, "weights")
    if is_safetensors(data):
        return read_safetensors(data, str(path))
    # A zip's local-header magic also marks a truncated torch.save file (its directory is at the end).
    is_zip = data[:4] == b"PK\x03\x04" or zipfile.is_zipfile(io.BytesIO(data))
    if is_zip or _is_legacy_torch(data):
        try:
            with torch.serialization.safe_globals(_torch_safe_globals()):
                return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            msg = str(e).split("\n")[0] if "Unsupported global" not in str(e) else _unsupported_global(str(e))
            raise GnrcnnError(f"{path}: refused to load: {msg}") from None
        except Exception as e:
            raise GnrcnnError(f"{path}: corrupt or truncated checkpoint ({type(e).__name__}: {str(e)[:160]})") from None
    if data[:1] == b"\x80" or data[:1] in (b"(", b"}"):
        return read_pickle(data, str(path))
    raise GnrcnnError(f"{path}: not a PyTorch checkpoint, safetensors or pickle file")


def _is_legacy_torch(data: bytes) -> bool:
    """Pre-1.6 torch.save files start with a pickled magic number."""
    try:
        return RestrictedUnpickler(io.BytesIO(data[:64]), encoding="latin1").load() == 0x1950A86A20F9469CFC6C
    except Exception:
        return False


def _unsupported_global(msg: str) -> str:
    for line in msg.splitlines():
        if "Unsupported global" in line:
            return line.strip().rstrip(".") + " (the file would run code when loaded; it was not loaded)"
    return msg.splitlines()[0]
