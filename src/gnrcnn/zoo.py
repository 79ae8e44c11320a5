"""The published models gnrcnn reproduces: their configs, checkpoints and reported numbers.

Numbers are MMDetection's (configs/gn README and metafile): COCO val2017 box/mask AP, training
memory at 2 images per GPU, inference fps on a V100 (fp32, batch 1, 800x1333); None = not reported.
"""

from __future__ import annotations

from dataclasses import dataclass

MMDET_URL = "https://download.openmmlab.com/mmdetection/v2.0/gn/{name}/{file}"


@dataclass(frozen=True)
class ZooEntry:
    config: str
    box_ap: float
    mask_ap: float
    mem_gb: float | None
    fps: float | None
    schedule: str
    backbone_init: str  # the ImageNet weights the published training started from
    url: str


def _mmdet(config: str, metafile_name: str, file: str, box: float, mask: float, mem: float, fps: float | None,
           schedule: str, init: str) -> ZooEntry:  # fmt: skip
    return ZooEntry(config, box, mask, mem, fps, schedule, init, MMDET_URL.format(name=metafile_name, file=file))


ZOO: tuple[ZooEntry, ...] = (
    _mmdet("mask-rcnn_r50_fpn_gn-all_2x_coco", "mask_rcnn_r50_fpn_gn-all_2x_coco",
           "mask_rcnn_r50_fpn_gn-all_2x_coco_20200206-8eee02a6.pth", 40.2, 36.4, 7.1, 11.0, "2x",
           "Detectron R-50-GN (open-mmlab://detectron/resnet50_gn)"),
    _mmdet("mask-rcnn_r50_fpn_gn-all_3x_coco", "mask_rcnn_r50_fpn_gn-all_3x_coco",
           "mask_rcnn_r50_fpn_gn-all_3x_coco_20200214-8b23b1e5.pth", 40.5, 36.7, 7.1, None, "3x",
           "Detectron R-50-GN (open-mmlab://detectron/resnet50_gn)"),
    _mmdet("mask-rcnn_r101_fpn_gn-all_2x_coco", "mask_rcnn_r101_fpn_gn-all_2x_coco",
           "mask_rcnn_r101_fpn_gn-all_2x_coco_20200205-d96b1b50.pth", 41.9, 37.6, 9.9, 9.0, "2x",
           "Detectron R-101-GN (open-mmlab://detectron/resnet101_gn)"),
    _mmdet("mask-rcnn_r101_fpn_gn-all_3x_coco", "mask_rcnn_r101_fpn_gn-all_3x_coco",
           "mask_rcnn_r101_fpn_gn-all_3x_coco_20200513_181609-0df864f4.pth", 42.1, 38.0, 9.9, None, "3x",
           "Detectron R-101-GN (open-mmlab://detectron/resnet101_gn)"),
    _mmdet("mask-rcnn_r50-contrib_fpn_gn-all_2x_coco", "mask_rcnn_r50_fpn_gn-all_contrib_2x_coco",
           "mask_rcnn_r50_fpn_gn-all_contrib_2x_coco_20200207-20d3e849.pth", 40.0, 36.1, 7.1, 10.9, "2x",
           "PyTorch-trained R-50-GN (open-mmlab://contrib/resnet50_gn)"),
    _mmdet("mask-rcnn_r50-contrib_fpn_gn-all_3x_coco", "mask_rcnn_r50_fpn_gn-all_contrib_3x_coco",
           "mask_rcnn_r50_fpn_gn-all_contrib_3x_coco_20200225-542aefbc.pth", 40.1, 36.2, 7.1, None, "3x",
           "PyTorch-trained R-50-GN (open-mmlab://contrib/resnet50_gn)"),
    # detectron2's model zoo (MODEL_ZOO.md, "GN" row): 0.060 s/im inference, 5.6 GB training memory.
    ZooEntry("detectron2_mask_rcnn_R_50_FPN_3x_gn", 42.6, 38.6, 5.6, round(1 / 0.060, 1), "3x (270k it)",
             "Detectron R-50-GN (ImageNetPretrained/47261647/R-50-GN.pkl)",
             "https://dl.fbaipublicfiles.com/detectron2/Misc/mask_rcnn_R_50_FPN_3x_gn/138602888/model_final_dc5d9e.pkl"),
)  # fmt: skip

def table() -> str:
    """The zoo as an aligned text table."""
    head = ("config", "box AP", "mask AP", "mem GB", "fps (V100)", "sched", "starts from", "checkpoint")
    rows = [
        (e.config, f"{e.box_ap:.1f}", f"{e.mask_ap:.1f}", f"{e.mem_gb:.1f}" if e.mem_gb else "-",
         f"{e.fps:.1f}" if e.fps else "-", e.schedule, e.backbone_init, e.url)
        for e in ZOO
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])
