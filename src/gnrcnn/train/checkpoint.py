"""Training checkpoints: the one builder of checkpoint dicts, atomic writes, the last K kept, a ``latest``
pointer, safe resume.

Every checkpoint dict gnrcnn writes comes from ``build``: a gnrcnn checkpoint (weights, config, meta;
usable with ``--weights``), and for a training checkpoint the training state beside it: optimizer,
gradient scaler, random-number generators, the iteration counter, the event writers' state (``events``:
the MLflow run to continue) and each hook's state under the hook's name (``ema``: the EMA of the
weights; ``validation``: best value, its iteration, evaluations since).
"""

from __future__ import annotations

import random
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config.schema import Config
from ..errors import GnrcnnError
from ..fileio import save_torch_atomic, write_text_atomic
from ..weights import gnrcnn_checkpoint
from ..weights.safe_load import read_weights

LATEST = "latest"
_NAME = re.compile(r"^iter_(\d+)\.pth$")


def build(
    model: torch.nn.Module, cfg: Config, meta: dict[str, Any], training: dict[str, Any] | None = None,
    hooks: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A checkpoint dict: ``model``'s weights with ``cfg`` and ``meta`` (``best.pth``, ``model_final.pth``), plus
    for a training checkpoint the loop's own state (``training``) and each hook's under its name."""
    state = gnrcnn_checkpoint(model, cfg.to_dict(), meta)
    state.update(training or {})
    if clash := sorted(set(state) & set(hooks or {})):
        raise GnrcnnError(f"a hook named {clash[0]!r} would overwrite that entry of the checkpoint: rename the hook")
    state.update(hooks or {})
    return state


def rng_state() -> dict[str, Any]:
    """Every random generator's state as plain bytes, ints and strings (safe to gather and to unpickle)."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (np_state[0], np_state[1].tobytes(), *(int(v) if i < 2 else float(v)
                  for i, v in enumerate(np_state[2:]))),
        "torch": bytes(torch.get_rng_state().numpy()),
    }  # fmt: skip
    if torch.cuda.is_available():
        state["cuda"] = [bytes(s.numpy()) for s in torch.cuda.get_rng_state_all()]
    return state


def _byte_tensor(b: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(b), dtype=torch.uint8)


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], np.frombuffer(n[1], dtype=np.uint32).copy(), *n[2:]))
    torch.set_rng_state(_byte_tensor(state["torch"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_byte_tensor(s) for s in state["cuda"]])


def checkpoint_path(work_dir: Path, iteration: int) -> Path:
    return work_dir / f"iter_{iteration:08d}.pth"


def list_checkpoints(work_dir: Path) -> list[Path]:
    """Training checkpoints, oldest first."""
    found = [(int(m.group(1)), p) for p in work_dir.glob("iter_*.pth") if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save(work_dir: Path, iteration: int, state: dict[str, Any], keep: int) -> Path:
    """Write ``iter_<n>.pth`` atomically, point ``latest`` at it, delete all but the last ``keep``."""
    path = checkpoint_path(work_dir, iteration)
    save_torch_atomic(state, path)
    write_text_atomic(path.name + "\n", work_dir / LATEST, "checkpoint pointer")
    for old in list_checkpoints(work_dir)[:-keep] if keep > 0 else []:
        if old != path:  # never the one ``latest`` names, whatever else the folder holds
            old.unlink(missing_ok=True)
    # A write killed mid-way (SIGKILL, power) leaves its temporary file; one run writes here at a time.
    for stale in work_dir.glob(".iter_*.pth*.tmp"):
        stale.unlink(missing_ok=True)
    return path


def _readable(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The checkpoint at ``path``, or None and why not."""
    if not path.exists():
        return None, "missing"
    try:
        obj = read_weights(path)
    except GnrcnnError as e:
        return None, str(e).removeprefix(f"{path}: ")
    needed = ("model", "optimizer", "iteration", "rng")
    if not isinstance(obj, dict) or any(k not in obj for k in needed):
        return None, "not a complete training checkpoint"
    return obj, ""


def load_for_resume(work_dir: Path, explicit: str | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that loads: ``explicit`` if given, else the one ``latest`` names, else older
    ones in turn. One warning line per checkpoint passed over (missing, torn, zero bytes), naming the one
    it falls back to."""
    if explicit:
        obj, why = _readable(Path(explicit))
        if obj is None:
            raise GnrcnnError(f"{explicit}: cannot resume from this checkpoint ({why})")
        return Path(explicit), obj
    candidates = list(reversed(list_checkpoints(work_dir)))
    pointer, passed = work_dir / LATEST, []
    if pointer.exists():
        named = work_dir / pointer.read_text().strip()
        candidates = [named] + [c for c in candidates if c != named]
    for path in candidates:
        obj, why = _readable(path)
        if obj is None:
            passed.append(f"{path} ({why})")
            continue
        if passed:
            warnings.warn(f"cannot resume from {'; nor '.join(passed)}: resuming from {path}", stacklevel=2)
        return path, obj
    if passed:
        raise GnrcnnError(f"--resume: no checkpoint in {work_dir} loads: {'; '.join(passed)}")
    return None


def restore(state: dict[str, Any], *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler: Any,
            rank: int) -> int:  # fmt: skip
    """Put a training checkpoint's own state back in place (the hooks' and writers' states are theirs to
    restore); returns its iteration."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    rngs = state["rng"]
    set_rng_state(rngs[rank] if rank < len(rngs) else rngs[0])
    return int(state["iteration"])
