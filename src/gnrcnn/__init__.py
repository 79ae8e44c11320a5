"""gnrcnn: Mask R-CNN with Group Normalization, reproducing MMDetection's configs/gn model zoo."""

__version__ = "0.1.0"

from .api import build_model, load_model
from .config import Config, load_config
from .engine.allocator import keep_freed_memory
from .errors import GnrcnnError
from .structures import Instances

__all__ = [
    "Config",
    "GnrcnnError",
    "Instances",
    "__version__",
    "build_model",
    "keep_freed_memory",
    "load_config",
    "load_model",
]
