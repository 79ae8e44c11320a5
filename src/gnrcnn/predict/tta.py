"""Test-time augmentation (``predict.tta``, ``--tta``): each piece (an image, or a tile) seen at every
scale of ``predict.tta_scales`` and mirrored left-right, merged the way detectron2's
``GeneralizedRCNNWithTTA`` merges:

1. boxes detected in every view and mapped back to the original pixels (``flip_boxes``, then the
   view's scale factor);
2. all of them merged by the model's own NMS (per class, or over all classes with
   ``model.roi.class_agnostic_nms``; at ``model.roi.nms_iou``, the best ``model.roi.max_detections``);
3. the mask head run on the merged boxes in every view's features, the mirrored views' probabilities
   mirrored back, all averaged, then pasted like any image's.

The two views of a scale (plain and mirrored) have the same size, so they share one model call and
each is padded exactly as it would be alone; several images (``--batch-size``) share each scale's call.
Every view's pooled feature maps are kept from step 1 to step 3 (no second backbone pass): R-50 at
the test scale holds about 0.1 GB per view. It needs a PyTorch model: an exported graph runs its mask
head only on its own detections.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import runtime
from ..errors import GnrcnnError
from ..modeling import MaskRCNN, to_instances
from ..modeling.box_ops import grouped_nms, keep_top_per_image, scale_boxes
from ..structures import Detections, ImageMeta, Instances
from .runner import DetectorLike

MERGED = ("boxes", "scores", "labels", "image")  # what each view's detections contribute to the merge


def flip_boxes(boxes: torch.Tensor, widths: torch.Tensor) -> torch.Tensor:
    """(n, 4) xyxy boxes mirrored left-right in images ``widths`` wide ((n,) or a number): x -> w - x."""
    w = torch.as_tensor(widths, dtype=boxes.dtype, device=boxes.device).reshape(-1)
    return torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)


def flip_instances(inst: Instances) -> Instances:
    """``inst`` (detections of a mirrored image) mirrored back: boxes and masks, in original pixels. With
    ``flip_boxes`` the reusable piece for comparing an image's detections with its mirror image's."""
    boxes = flip_boxes(inst.boxes, inst.image_shape[1])
    return Instances(boxes, inst.scores, inst.labels, inst.masks.flip(-1), inst.image_shape, inst.name,
                     inst.class_names, inst.category_ids)  # fmt: skip


class TtaViews:
    """``count`` (= scales) resized inputs per piece from ``load``; ``run`` mirrors each in the model call
    and merges all views of a piece into one ``Instances``. ``flip=False`` leaves the mirrored views out."""

    def __init__(self, detector: DetectorLike, scales: list[float] | tuple[float, ...], flip: bool = True) -> None:
        model = getattr(detector, "model", None)
        if not isinstance(model, MaskRCNN):
            raise GnrcnnError("--tta (predict.tta) needs a PyTorch model: an exported ONNX or OpenVINO graph runs "
                              "its mask head only on its own detections")  # fmt: skip
        self.detector, self.model = detector, model
        self.scales, self.flip = tuple(scales), flip
        self.count = len(self.scales)

    def load(self, image: np.ndarray, name: str) -> tuple[list[torch.Tensor], list[ImageMeta]]:
        out = [self.detector.preprocessor.load(image, scale=s) for s in self.scales]
        for _, meta in out:
            meta.name = name
        return [t for t, _ in out], [m for _, m in out]

    @torch.inference_mode()
    def run(self, tensors: list[torch.Tensor], metas: list[ImageMeta]) -> list[Instances]:
        det, cfg = self.detector, self.detector.cfg.model
        n = len(tensors) // self.count
        device, amp = getattr(det, "device", torch.device("cpu")), getattr(det, "amp", None)
        with runtime.eval_mode(self.model), runtime.autocast(device, amp):
            views = [self._detect(tensors[s :: self.count], metas[s :: self.count]) for s in range(self.count)]
            merged = self._merge(views, n)
            probs = sum(self._masks(view, merged) for view in views) / (self.count * (2 if self.flip else 1))
        originals = [ImageMeta(m.ori_shape, m.ori_shape, (1.0, 1.0), m.name) for m in metas[:: self.count]]
        out = to_instances(merged, probs, originals, mask_thr=cfg.roi.mask_thr, box_arithmetic=cfg.box_arithmetic)
        return det.named(out)  # type: ignore[attr-defined]

    def _detect(self, tensors: list[torch.Tensor], metas: list[ImageMeta]) -> dict:
        """One scale's views (the images, then their mirror images) through the model up to the boxes:
        the boxes in original pixels, with each view's factors and width to map merged boxes back."""
        views = tensors + [t.flip(-1) for t in tensors] if self.flip else tensors
        batch, sizes = self.detector.preprocessor.batch(views)
        dets, pooled = self.model.detect(batch, sizes.to(batch.device))
        n = len(tensors)
        factors = torch.tensor([m.scale_factor for m in metas], dtype=torch.float32, device=dets.boxes.device)
        factors = factors.repeat(len(views) // n, 1)  # (views, 2)
        widths = sizes[:, 1].to(dets.boxes.device)
        mirrored = dets.image_ids >= n
        boxes = torch.where(mirrored[:, None], flip_boxes(dets.boxes, widths[dets.image_ids]), dets.boxes)
        shapes = torch.tensor([m.ori_shape for m in metas], dtype=torch.float32, device=boxes.device)
        image = dets.image_ids % n
        boxes = scale_boxes(boxes, factors[dets.image_ids])
        boxes = torch.minimum(boxes.clamp(min=0), shapes[image].flip(-1).repeat(1, 2))  # clip to the original image
        return {"boxes": boxes, "scores": dets.scores, "labels": dets.labels, "image": image, "pooled": pooled,
                "factors": factors, "widths": widths, "n": n}  # fmt: skip

    def _merge(self, views: list[dict], n: int) -> Detections:
        """Every view's detections of each image through the model's NMS, the best ``max_detections`` kept,
        sorted by image then score (``structures.Detections``)."""
        roi = self.detector.cfg.model.roi
        boxes, scores, labels, image = (torch.cat([v[k] for v in views]) for k in MERGED)
        groups = image if roi.class_agnostic_nms else image * self.model.num_classes + labels
        keep = grouped_nms(boxes.float(), scores.float(), groups, roi.nms_iou)
        keep = keep_top_per_image(keep, image, roi.max_detections)
        return Detections(boxes[keep], scores[keep], labels[keep], image[keep])

    def _masks(self, view: dict, merged: Detections) -> torch.Tensor:
        """(D, M, M) mask probabilities of the merged detections in one scale's views, mirrored back and summed."""
        n, copies = view["n"], len(view["factors"]) // view["n"]
        ids = torch.cat([merged.image_ids + k * n for k in range(copies)])
        boxes = merged.boxes.repeat(copies, 1) * view["factors"][ids].repeat(1, 2)
        mirrored = ids >= n
        boxes = torch.where(mirrored[:, None], flip_boxes(boxes, view["widths"][ids]), boxes)
        probs = self.model.roi_heads.predict_masks(view["pooled"], Detections(boxes, merged.scores.repeat(copies),
                                                   merged.labels.repeat(copies), ids))  # fmt: skip
        probs = torch.where(mirrored[:, None, None], probs.flip(-1), probs)
        return probs.view(copies, -1, *probs.shape[1:]).sum(0)
