"""The config schema: typed dataclasses, one per section, with their defaults.

The defaults follow the seed's models (``docs/spec/SEMANTICS.md``, mapped to code in
``docs/semantics.md``). Shipped YAML files in ``gnrcnn/configs`` and ``--set`` overrides fill them
through ``config.loader``, which checks every key and value against these types and ``choices``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .coco_classes import COCO_CATEGORY_IDS, COCO_CLASS_NAMES

NORMS = ("gn", "bn", "frozen_bn", "none")
LAYOUTS = ("none", "heads", "all")
# COCOeval's first six summary numbers, in its order: the metric names of gnrcnn eval, metrics.json and the model card.
METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
BEST_METRICS = tuple(f"{t}.{m}" for t in ("segm", "bbox") for m in METRICS)


def _choice(default: str, *choices: str) -> Any:
    return field(default=default, metadata={"choices": choices})


@dataclass
class BackboneConfig:
    depth: int = field(default=50, metadata={"choices": (18, 34, 50, 101)})
    norm: str = _choice("gn", *NORMS)
    frozen_stages: int = 1  # stem + this many stages get no gradient; -1: nothing frozen
    zero_init_residual: bool = False  # when not pretrained: each block's last norm starts at 0
    width: int = 64  # the stem's and first stage's channels, doubled by each later stage (published: 64)


@dataclass
class FPNConfig:
    channels: int = 256
    norm: str = _choice("gn", *NORMS)


@dataclass
class RPNConfig:
    anchor_scale: float = 8.0
    anchor_ratios: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    strides: list[int] = field(default_factory=lambda: [4, 8, 16, 32, 64])
    pre_nms_topk_test: int = 1000
    post_nms_topk_test: int = 1000
    pre_nms_topk_train: int = 2000
    post_nms_topk_train: int = 1000
    nms_iou: float = 0.7
    min_box_size: float = 0.0
    pos_iou: float = 0.7
    neg_iou: float = 0.3
    min_pos_iou: float = 0.3
    low_quality_matches: bool = True
    batch_per_image: int = 256
    pos_fraction: float = 0.5
    # "sampled": losses divided by the number of sampled anchors (MMDetection);
    # "batch": by images x batch_per_image (detectron2).
    loss_norm: str = _choice("sampled", "sampled", "batch")


@dataclass
class RoIConfig:
    norm: str = _choice("gn", *NORMS)
    conv_channels: int = 256
    box_convs: int = 4
    box_fc: int = 1024
    mask_convs: int = 4
    box_pool: int = 7
    mask_pool: int = 14
    # "mmdet": floor(log2(sqrt(wh) / 56 + 1e-6)); "detectron2": floor(4 + log2(sqrt(wh) / 224 + 2.2e-16)) - 2
    level_mapping: str = _choice("mmdet", "mmdet", "detectron2")
    box_stds: list[float] = field(default_factory=lambda: [0.1, 0.1, 0.2, 0.2])
    pos_iou: float = 0.5
    neg_iou: float = 0.5
    min_pos_iou: float = 0.5
    low_quality_matches: bool = True
    batch_per_image: int = 512
    pos_fraction: float = 0.25
    mask_size: int = 28
    score_thr: float = 0.05
    nms_iou: float = 0.5
    max_detections: int = 100
    mask_thr: float = 0.5
    # One NMS over all classes of an image instead of one per class: an object is then never reported
    # as two classes at once (off in the seed configs, which run NMS per class).
    class_agnostic_nms: bool = False


@dataclass
class ModelConfig:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    fpn: FPNConfig = field(default_factory=FPNConfig)
    rpn: RPNConfig = field(default_factory=RPNConfig)
    roi: RoIConfig = field(default_factory=RoIConfig)
    # Whose box arithmetic: anchor sizes (float32 op order vs Python floats), box decoding (symmetric
    # dw/dh clamp vs from above only), proposal ranking (sigmoid score vs logit) and the final
    # rescaling (divide and keep vs multiply, clip and drop empty boxes). They differ in rounding.
    box_arithmetic: str = _choice("mmdet", "mmdet", "detectron2")
    # Convolutions in NHWC memory layout at inference: faster on CPUs (oneDNN) and tensor cores;
    # same maths, other summation order. "heads": the RoI heads only (FPN features stay bit-exact);
    # bf16 inference takes "heads" as "all" (not exact anyway, and twice as fast on a CPU).
    channels_last: str = _choice("heads", *LAYOUTS)


@dataclass
class InputConfig:
    mean: list[float] = field(default_factory=lambda: [103.53, 116.28, 123.675])
    std: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    to_rgb: bool = False  # the network sees RGB (True) or BGR (False) channel order
    short: int = 800  # test-time short side ...
    long: int = 1333  # ... and cap on the long side
    train_shorts: list[int] = field(default_factory=list)  # multi-scale training; empty = [short]
    # "mmdet": OpenCV bilinear, new = int(side * min(long/L, short/S) + 0.5);
    # "detectron2": Pillow bilinear, detectron2's ResizeShortestEdge arithmetic.
    resize: str = _choice("mmdet", "mmdet", "detectron2")
    size_divisor: int = 32
    flip_prob: float = 0.5


@dataclass
class TrainConfig:
    # The schedule counts epochs (MMDetection) unless ``iters`` > 0 (detectron2): then it runs that
    # many iterations with lr steps at ``lr_step_iters``, and the two epoch fields are unused.
    epochs: int = 24
    lr_step_epochs: list[int] = field(default_factory=lambda: [16, 22])
    iters: int = 0
    lr_step_iters: list[int] = field(default_factory=list)
    base_lr: float = 0.02
    base_batch: int = 16  # lr is scaled linearly from base_lr at base_batch images to the real batch
    momentum: float = 0.9
    weight_decay: float = 1e-4
    weight_decay_norm: float = -1.0  # < 0: same as weight_decay (MMDetection); detectron2 uses 0
    warmup_iters: int = 500
    warmup_factor: float = 0.001
    images_per_gpu: int = 2
    accumulate: int = 1  # gradient accumulation steps
    log_every: int = 20
    checkpoint_every_iters: int = 0  # 0: once per epoch only
    keep_checkpoints: int = 3
    # Validation during training (with a validation set): every N epochs or every N iterations (at
    # most one of the two > 0; 0 and 0: only at the end). Each evaluation keeps ``best.pth`` by
    # ``best_metric``; ``early_stop`` > 0 ends the run after that many evaluations without improvement.
    eval_every_epochs: int = 0
    eval_every_iters: int = 0
    best_metric: str = _choice("segm.AP", *BEST_METRICS)
    early_stop: int = 0
    clip_grad_norm: float = 0.0  # > 0: gradients clipped to this total L2 norm before each step
    # > 0: an exponential moving average of the weights (e.g. 0.999), evaluated and saved in its place
    ema_decay: float = 0.0
    num_workers: int = 2
    seed: int = 0
    # Under torchrun: a collective (gradient all-reduce, barrier) that waits longer than this ends the
    # job with a message (a hung or lost rank), instead of waiting forever.
    dist_timeout_s: float = 1800.0
    # Performance, not semantics: NHWC convolutions while training (faster with oneDNN and tensor
    # cores), and backbone blocks recomputed in the backward pass (a third of the peak memory for
    # ~8-15% more time): "auto" recomputes only when the estimated peak exceeds the memory budget
    # (train/memory_plan.py; 0 = 80% of the memory free at the start).
    channels_last: str = _choice("all", *LAYOUTS)
    recompute_backbone: str = _choice("auto", "auto", "always", "never")
    memory_budget_gb: float = 0.0
    # Runs tracked in MLflow (``pip install gnrcnn[mlflow]``): the tracking server's URI (http://host:5000,
    # or a local ``file:`` / ``sqlite:`` store), "" for off; the experiment the run goes to.
    mlflow_uri: str = ""
    mlflow_experiment: str = "gnrcnn"


@dataclass
class AugmentConfig:
    """Training augmentations beyond the seed's resize + horizontal flip, all off by default
    (``data/augment.py``). Boxes are recomputed from the transformed masks."""

    photometric: bool = False  # brightness, contrast, saturation and hue, each with probability 0.5
    # Large-scale jitter (detectron2's LSJ): scale the image to fit lsj_size x lsj_size times a factor
    # drawn from lsj_scale, then crop a random lsj_size x lsj_size window (smaller images are padded).
    lsj: bool = False
    lsj_scale: list[float] = field(default_factory=lambda: [0.1, 2.0])
    lsj_size: int = 0  # 0: input.long
    # A random crop before the usual resize, each side a fraction of the image drawn from crop_range.
    crop: bool = False
    crop_range: list[float] = field(default_factory=lambda: [0.5, 1.0])
    vflip_prob: float = 0.0
    rot90: bool = False  # rotate by 0, 90, 180 or 270 degrees, each with probability 1/4
    # A crop drops the instances it leaves with less than min_visible of their mask's pixels; any
    # step drops those whose box is narrower or lower than min_box_size pixels (slivers).
    min_visible: float = 0.25
    min_box_size: float = 2.0

    @property
    def enabled(self) -> bool:
        return self.photometric or self.lsj or self.crop or self.vflip_prob > 0 or self.rot90


@dataclass
class DataConfig:
    class_names: list[str] = field(default_factory=lambda: list(COCO_CLASS_NAMES))
    category_ids: list[int] = field(default_factory=lambda: list(COCO_CATEGORY_IDS))
    # Images without annotations are training negatives (background everywhere) instead of being left out.
    keep_empty_images: bool = False


@dataclass
class PredictConfig:
    # Large images cut into ``tile`` x ``tile`` tiles at native resolution (0: whole images), each
    # overlapping its neighbours by at least ``tile_overlap`` of a tile, ``tile_batch`` tiles per
    # model call. Each tile is then resized like any image (input.short / input.long).
    tile: int = 0
    tile_overlap: float = 0.2
    tile_batch: int = 4
    # Test-time augmentation (off by default): every image (or tile) seen at each of ``tta_scales``
    # (factors of input.short / input.long) and mirrored left-right; detections merged by the model's
    # own NMS, masks averaged over the views (docs/inference.md). A PyTorch model only. The default is
    # the mirror alone: other scales help a model trained at several scales, and hurt one trained at one.
    tta: bool = False
    tta_scales: list[float] = field(default_factory=lambda: [1.0])


@dataclass
class Config:
    name: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    input: InputConfig = field(default_factory=InputConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    data: DataConfig = field(default_factory=DataConfig)
    predict: PredictConfig = field(default_factory=PredictConfig)

    @property
    def num_classes(self) -> int:
        return len(self.data.class_names)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
