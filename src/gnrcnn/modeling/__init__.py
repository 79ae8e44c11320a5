"""The Mask R-CNN network, its parts and the step from its output to per-image results."""

from .mask_rcnn import MaskRCNN
from .postprocess import to_instances

__all__ = ["MaskRCNN", "to_instances"]
