"""The trained model, written twice: ``model_final.pth`` (gnrcnn's checkpoint) and ``model_final.safetensors``.

The safetensors copy holds the same tensors with the config and class names in its metadata: no
pickle, so the Hugging Face Hub and any other reader can load it without trusting it, and it loads
faster (docs/weights.md). Should it fail to write, the ``.pth`` is still there, and the line says why.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..errors import GnrcnnError
from ..fileio import save_torch_atomic
from ..weights.safetensors_file import save_safetensors


def save(ckpt: dict[str, Any], work_dir: Path, stem: str = "model_final") -> Path:
    """``<stem>.pth`` and ``<stem>.safetensors`` in ``work_dir``; returns the ``.pth``."""
    path = work_dir / f"{stem}.pth"
    save_torch_atomic(ckpt, path)
    try:
        save_safetensors(ckpt, work_dir / f"{stem}.safetensors")
    except (GnrcnnError, ValueError, RuntimeError) as e:  # e.g. tensors sharing memory, which safetensors refuses
        print(f"warning: {stem}.safetensors not written ({str(e)[:160]}); {path} holds the model", file=sys.stderr)
    return path
