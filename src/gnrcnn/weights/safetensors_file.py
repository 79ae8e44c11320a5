"""safetensors files: read (told by content, like every weights format) and written with gnrcnn's metadata.

A safetensors file is an 8-byte little-endian header length, a JSON header (names, dtypes, shapes,
offsets and a ``__metadata__`` map of strings) and the raw tensor bytes: nothing in it can run code,
and no pickle is involved. gnrcnn writes its checkpoint's config, class names and meta as JSON strings
in ``__metadata__`` (``format: gnrcnn``), so a ``.safetensors`` file carries what a ``.pth`` carries;
a safetensors file of anyone else's (a plain state dict) is read as its tensors and told apart by
their names, as a ``.pth`` state dict is.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import torch

from ..errors import GnrcnnError
from ..fileio import write_bytes_atomic

MAX_HEADER = 100 << 20  # safetensors' own limit on the JSON header


def is_safetensors(data: bytes) -> bool:
    if len(data) < 10:
        return False
    (n,) = struct.unpack("<Q", data[:8])
    return 2 <= n <= min(MAX_HEADER, len(data) - 8) and data[8:9] == b"{"


def read_safetensors(data: bytes, where: str) -> dict[str, Any]:
    """The file as a dict ``weights.interpret`` reads: gnrcnn's checkpoint layout when its metadata says
    ``format: gnrcnn``, else the plain dict of tensors."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    (n,) = struct.unpack("<Q", data[:8])
    try:
        meta = json.loads(data[8 : 8 + n]).get("__metadata__") or {}
        tensors = load(data)
    except (SafetensorError, ValueError, UnicodeDecodeError) as e:
        raise GnrcnnError(f"{where}: corrupt or truncated safetensors file ({str(e)[:160]})") from None
    if meta.get("format") != "gnrcnn":
        return tensors
    try:
        fields = {k: json.loads(meta[k]) if k in meta else None for k in ("version", "config", "meta")}
    except json.JSONDecodeError as e:
        raise GnrcnnError(f"{where}: gnrcnn metadata is not valid JSON ({e})") from None
    return {"format": "gnrcnn", "version": fields["version"] or 1, "config": fields["config"],
            "meta": fields["meta"] or {}, "model": tensors}  # fmt: skip


def checkpoint_bytes(ckpt: dict[str, Any]) -> bytes:
    """A gnrcnn checkpoint (``weights.gnrcnn_checkpoint``) as safetensors bytes; config, class names and meta
    in the metadata (JSON strings: safetensors' metadata holds strings only)."""
    from safetensors.torch import save

    config = ckpt.get("config") or {}
    data = config.get("data") or {}
    metadata = {
        "format": "gnrcnn",
        "version": json.dumps(ckpt.get("version", 1)),
        "config": json.dumps(config),
        "meta": json.dumps(ckpt.get("meta") or {}, default=str),
        "class_names": json.dumps(list(data.get("class_names") or [])),
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in ckpt["model"].items() if isinstance(v, torch.Tensor)}
    return save(tensors, metadata=metadata)


def save_safetensors(ckpt: dict[str, Any], path: str | Path) -> int:
    """Write ``ckpt``'s weights and metadata to ``path`` atomically; the size in bytes."""
    data = checkpoint_bytes(ckpt)
    write_bytes_atomic(data, path, "safetensors weights")
    return len(data)
