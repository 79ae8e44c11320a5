"""gnrcnn: Mask R-CNN with Group Normalization, reproducing MMDetection's configs/gn model zoo."""

from .api import build_model, draw, load_model
from .config.loader import load_config
from .config.schema import Config
from .errors import GnrcnnError
from .runtime import keep_freed_memory
from .structures import Instances
from .version import __version__

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
]
