"""The published models gnrcnn reproduces: their configs, checkpoints and reported numbers.

Numbers are MMDetection's (configs/gn README and metafile): COCO val2017 box/mask AP, training
memory at 2 images per GPU, inference fps on a V100 (fp32, batch 1, 800x1333); None = not reported.

It stays at the package root rather than in ``weights/`` (which resolves its names): ``gnrcnn zoo`` prints
it without importing torch, and importing ``weights/`` imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass

MMDET_URL = "https://download.openmmlab.com/mmdetection/v2.0/gn/{name}/{file}"
OPENMMLAB_PRETRAIN = "https://download.openmmlab.com/pretrain/third_party/{file}"
DETECTRON_IMAGENET = "https://dl.fbaipublicfiles.com/detectron/ImageNetPretrained/{file}"


@dataclass(frozen=True)
class BackboneEntry:
    """An ImageNet backbone under the name MMDetection's or detectron2's configs give it."""

    name: str
    url: str
    about: str


@dataclass(frozen=True)
class ZooEntry:
    config: str
    box_ap: float
    mask_ap: float
    mem_gb: float | None
    fps: float | None
    schedule: str
    backbone: str  # the ImageNet weights the published training started from: a name in BACKBONES
    url: str
    # The full SHA-256 where it is known but the file name carries no prefix of it (detectron2's).
    sha256: str | None = None


def _mmdet(config: str, metafile_name: str, file: str, box: float, mask: float, mem: float, fps: float | None,
           schedule: str, init: str) -> ZooEntry:  # fmt: skip
    return ZooEntry(config, box, mask, mem, fps, schedule, init, MMDET_URL.format(name=metafile_name, file=file))


ZOO: tuple[ZooEntry, ...] = (
    _mmdet("mask-rcnn_r50_fpn_gn-all_2x_coco", "mask_rcnn_r50_fpn_gn-all_2x_coco",
           "mask_rcnn_r50_fpn_gn-all_2x_coco_20200206-8eee02a6.pth", 40.2, 36.4, 7.1, 11.0, "2x",
           "open-mmlab://detectron/resnet50_gn"),
    _mmdet("mask-rcnn_r50_fpn_gn-all_3x_coco", "mask_rcnn_r50_fpn_gn-all_3x_coco",
           "mask_rcnn_r50_fpn_gn-all_3x_coco_20200214-8b23b1e5.pth", 40.5, 36.7, 7.1, None, "3x",
           "open-mmlab://detectron/resnet50_gn"),
    _mmdet("mask-rcnn_r101_fpn_gn-all_2x_coco", "mask_rcnn_r101_fpn_gn-all_2x_coco",
           "mask_rcnn_r101_fpn_gn-all_2x_coco_20200205-d96b1b50.pth", 41.9, 37.6, 9.9, 9.0, "2x",
           "open-mmlab://detectron/resnet101_gn"),
    _mmdet("mask-rcnn_r101_fpn_gn-all_3x_coco", "mask_rcnn_r101_fpn_gn-all_3x_coco",
           "mask_rcnn_r101_fpn_gn-all_3x_coco_20200513_181609-0df864f4.pth", 42.1, 38.0, 9.9, None, "3x",
           "open-mmlab://detectron/resnet101_gn"),
    _mmdet("mask-rcnn_r50-contrib_fpn_gn-all_2x_coco", "mask_rcnn_r50_fpn_gn-all_contrib_2x_coco",
           "mask_rcnn_r50_fpn_gn-all_contrib_2x_coco_20200207-20d3e849.pth", 40.0, 36.1, 7.1, 10.9, "2x",
           "open-mmlab://contrib/resnet50_gn"),
    _mmdet("mask-rcnn_r50-contrib_fpn_gn-all_3x_coco", "mask_rcnn_r50_fpn_gn-all_contrib_3x_coco",
           "mask_rcnn_r50_fpn_gn-all_contrib_3x_coco_20200225-542aefbc.pth", 40.1, 36.2, 7.1, None, "3x",
           "open-mmlab://contrib/resnet50_gn"),
    # detectron2's model zoo (MODEL_ZOO.md, "GN" row): 0.060 s/im inference, 5.6 GB training memory.
    ZooEntry("detectron2_mask_rcnn_R_50_FPN_3x_gn", 42.6, 38.6, 5.6, round(1 / 0.060, 1), "3x (270k it)",
             "catalog://ImageNetPretrained/FAIR/R-50-GN",
             "https://dl.fbaipublicfiles.com/detectron2/Misc/mask_rcnn_R_50_FPN_3x_gn/138602888/model_final_dc5d9e.pkl"),
)  # fmt: skip

BACKBONES: tuple[BackboneEntry, ...] = (
    BackboneEntry("open-mmlab://detectron/resnet50_gn", OPENMMLAB_PRETRAIN.format(file="resnet50_gn-9186a21c.pth"),
                  "Detectron R-50-GN, MMDetection format"),
    BackboneEntry("open-mmlab://detectron/resnet101_gn", OPENMMLAB_PRETRAIN.format(file="resnet101_gn-cac0ab98.pth"),
                  "Detectron R-101-GN, MMDetection format"),
    BackboneEntry("open-mmlab://contrib/resnet50_gn",
                  OPENMMLAB_PRETRAIN.format(file="resnet50_gn_thangvubk-ad1730dd.pth"), "PyTorch-trained R-50-GN"),
    # detectron2's names for Detectron's own pickles (ModelCatalog "ImageNetPretrained/FAIR/...").
    BackboneEntry("catalog://ImageNetPretrained/FAIR/R-50-GN", DETECTRON_IMAGENET.format(file="47261647/R-50-GN.pkl"),
                  "Detectron R-50-GN, Detectron blobs"),
    BackboneEntry("catalog://ImageNetPretrained/FAIR/R-101-GN",
                  DETECTRON_IMAGENET.format(file="47592356/R-101-GN.pkl"), "Detectron R-101-GN, Detectron blobs"),
)  # fmt: skip


def find(config_name: str) -> ZooEntry | None:
    """The published model of a config name, or None (a config of your own has none)."""
    return next((e for e in ZOO if e.config == config_name), None)


def _aligned(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
    return [lines[0], "  ".join("-" * w for w in widths), *lines[1:]]


def table(wide: bool = False, others: list[tuple[str, str]] = ()) -> str:
    """The zoo, the other bundled configs (``others``: name, what) and the ImageNet backbones as aligned text
    tables: within 100 columns, or with the checkpoint and backbone columns and URLs when ``wide``."""
    head = ("config", "box AP", "mask AP", "mem GB", "fps (V100)", "sched", "starts from", "checkpoint")
    rows = [
        (e.config, f"{e.box_ap:.1f}", f"{e.mask_ap:.1f}", f"{e.mem_gb:.1f}" if e.mem_gb else "-",
         f"{e.fps:.1f}" if e.fps else "-", e.schedule, e.backbone, e.url)
        for e in ZOO
    ]  # fmt: skip
    backbones = [(b.name, b.about, b.url) for b in BACKBONES]
    keep = slice(None) if wide else slice(-2)  # the last two columns are the long ones
    out = _aligned(head[keep], [r[keep] for r in rows])
    if others:
        out += ["", *_aligned(("other bundled config", "what"), [(n, _fit(w, 96 - len(n))) for n, w in others])]
    out += ["", *_aligned(("backbone", "what", "file")[: 3 if wide else 2], [b[: 3 if wide else 2] for b in backbones])]
    if not wide:
        out += ["", "(--wide adds the checkpoint URLs and the backbone each model starts from)"]
    return "\n".join(out)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"
