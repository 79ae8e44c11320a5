"""gnrcnn: Mask R-CNN with Group Normalization, reproducing MMDetection's configs/gn model zoo.

The public names are loaded on first use (PEP 562), so ``import gnrcnn`` and ``gnrcnn --help`` do not pay
for importing torch and torchvision (about 4 s on 2 cores) until a name that needs them is touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .api import build_model, draw, load_model, train_model
    from .config.loader import load_config
    from .config.schema import Config
    from .errors import GnrcnnError
    from .runtime import keep_freed_memory
    from .structures import Instances

_WHERE = {"build_model": "api", "draw": "api", "load_model": "api", "train_model": "api",
          "load_config": "config.loader", "Config": "config.schema", "GnrcnnError": "errors",
          "keep_freed_memory": "runtime", "Instances": "structures"}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'gnrcnn' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


__all__ = [
    "Config",
    "GnrcnnError",
    "Instances",
    "__version__",
    "build_model",
    "draw",
    "keep_freed_memory",
    "load_config",
    "load_model",
    "train_model",
]
