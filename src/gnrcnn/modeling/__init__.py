"""The Mask R-CNN network and its parts."""

from .detector import MaskRCNN, postprocess

__all__ = ["MaskRCNN", "postprocess"]
