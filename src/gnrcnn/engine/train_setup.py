"""What training is built from: the dataset, the model and its starting weights, the optimizer, the loader."""

from __future__ import annotations

import dataclasses
import functools
import random
import sys
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .. import zoo
from ..config.schema import Config
from ..data.coco import CocoDataset
from ..data.problems import summarize
from ..data.sampler import GroupedBatchSampler
from ..data.shared_index import read_shared
from ..data.train_data import TrainDataset, collate
from ..errors import GnrcnnError
from ..modeling import MaskRCNN
from ..weights import LoadedWeights, hub, load_into, load_weights_file
from . import distributed as dist
from .build import build_model
from .schedule import Schedule

CLASS_SPECIFIC = ("roi_heads.box_head.cls_score.", "roi_heads.box_head.bbox_pred.", "roi_heads.mask_head.logits.")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def load_dataset(ann: str, root: str, verbose: bool, keep_empty: bool = False) -> CocoDataset:
    """The training set, validated (errors stop here; what is skipped is listed once). Under torchrun the
    first rank of each machine reads it and the machine's other ranks map its arrays (``shared_index``)."""
    _, world, local = dist.world()
    if world > 1:
        dataset = read_shared(ann, root, train=True, keep_empty=keep_empty, first_on_machine=local == 0,
                              barrier=dist.barrier, progress=verbose)  # fmt: skip
    else:
        dataset = CocoDataset(ann, root, train=True, keep_empty=keep_empty, progress=verbose)
    dataset.raise_if_errors()
    if dataset.skipped and verbose:
        first = "\n".join(f"  {p}" for p in dataset.skipped[:5])
        more = f"\n  ... ({len(dataset.skipped) - 5} more)" if len(dataset.skipped) > 5 else ""
        print(f"warning: left out of training: {summarize(dataset.skipped)}\n{first}{more}", file=sys.stderr)
    return dataset


def with_classes(cfg: Config, dataset: CocoDataset) -> Config:
    """A copy of ``cfg`` whose classes are the dataset's (the dataset decides the class count)."""
    data = dataclasses.replace(cfg.data, class_names=list(dataset.class_names),
                               category_ids=list(dataset.category_ids))  # fmt: skip
    return dataclasses.replace(cfg, data=data)


def build_for_training(cfg: Config, weights: str | None, backbone_weights: str | None, verbose: bool) -> MaskRCNN:
    """A model for ``cfg``, started from a detection checkpoint, an ImageNet backbone, or from scratch.

    ``weights`` and ``backbone_weights`` are files, URLs or zoo names (``weights/hub.py``) or "none".
    Without ``weights``, a zoo config starts from its published backbone unless ``backbone_weights``
    says otherwise ("none": from scratch); a config of your own starts from scratch.
    """
    model = build_model(cfg)
    say = print if verbose else (lambda *a, **k: None)
    if weights is not None and weights.lower() != "none":
        _load_detector(model, cfg, weights, say)
        return model
    entry = zoo.find(cfg.name)
    if backbone_weights is None and entry is not None:
        backbone_weights = entry.backbone
        say(f"backbone: {backbone_weights}, as the published recipe ('--backbone-weights none' trains from scratch)")
    path = hub.resolve(backbone_weights) if backbone_weights is not None else None
    if path is None:
        say("training FROM SCRATCH: no --weights and no --backbone-weights (every layer randomly initialised)")
        return model
    loaded = load_weights_file(path)
    if not loaded.backbone_only:
        loaded.state_dict = {k: v for k, v in loaded.state_dict.items() if k.startswith("backbone.")}
    load_into(model, loaded, str(path))
    ignored = f"; ignored {len(loaded.ignored)} entries" if loaded.ignored else ""
    say(f"backbone from {backbone_weights} ({loaded.format}){ignored}; the rest initialised at random")
    return model


def checkpoint_classes(loaded: LoadedWeights) -> list[str] | None:
    """The class names a detection checkpoint was trained on, where it says (gnrcnn, MMDetection meta)."""
    data = (loaded.config or {}).get("data") or {}
    meta = loaded.meta.get("dataset_meta") if isinstance(loaded.meta.get("dataset_meta"), dict) else loaded.meta
    names = data.get("class_names") or meta.get("classes") or meta.get("CLASSES")
    return [str(n) for n in names] if isinstance(names, (list, tuple)) and names else None


def _few(names: list[str]) -> str:
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def _load_detector(model: MaskRCNN, cfg: Config, weights: str, say: Callable[..., None]) -> None:
    """Everything but the class-specific layers when the checkpoint's classes are not ``cfg``'s."""
    path = hub.resolve(weights)
    assert path is not None
    loaded = load_weights_file(path)
    if loaded.backbone_only:
        raise GnrcnnError(f"{weights}: holds a backbone only; pass it as --backbone-weights")
    want, sd = model.state_dict(), loaded.state_dict
    theirs, mine = checkpoint_classes(loaded), list(cfg.data.class_names)
    keys = [k for k in want if k.startswith(CLASS_SPECIFIC) and k in sd]
    shapes_differ = any(tuple(sd[k].shape) != tuple(want[k].shape) for k in keys)
    if keys and (shapes_differ or (theirs is not None and theirs != mine)):
        # Fine-tuning to other classes: the class-specific layers keep their fresh initialisation.
        cls = sd.get(CLASS_SPECIFIC[0] + "weight")  # (classes + background, fc)
        n = len(theirs) if theirs else (len(cls) - 1 if cls is not None else "?")
        layers = ", ".join(p.rstrip(".") for p in CLASS_SPECIFIC)
        was = f"{n} classes: {_few(theirs)}" if theirs else f"{n} classes"
        say(f"note: {weights}: re-initialised {layers} for {len(mine)} classes ({_few(mine)}); "
            f"the checkpoint's {was}")  # fmt: skip
        sd.update({k: want[k] for k in keys})
    elif keys and theirs is None:
        say(f"note: {weights}: kept its class-specific layers (it names no classes; same count, {len(mine)})")
    load_into(model, loaded, str(path))
    say(f"starting from {weights} ({loaded.format})")


def make_optimizer(model: nn.Module, cfg: Config) -> torch.optim.SGD:
    """SGD with momentum; weight decay on every parameter, or ``weight_decay_norm`` on norm layers if >= 0."""
    t = cfg.train
    norm_types = (nn.GroupNorm, nn.BatchNorm2d)
    norm_params = {id(p) for m in model.modules() if isinstance(m, norm_types) for p in m.parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    if t.weight_decay_norm < 0:
        groups = [{"params": trainable, "weight_decay": t.weight_decay}]
    else:
        groups = [
            {"params": [p for p in trainable if id(p) not in norm_params], "weight_decay": t.weight_decay},
            {"params": [p for p in trainable if id(p) in norm_params], "weight_decay": t.weight_decay_norm},
        ]
    return torch.optim.SGD(groups, lr=t.base_lr, momentum=t.momentum)


def make_loader(
    dataset: CocoDataset, cfg: Config, rank: int, world: int, device: torch.device
) -> tuple[torch.utils.data.DataLoader, GroupedBatchSampler]:
    sampler = GroupedBatchSampler(
        widths=np.array(dataset.index.width, np.int64), heights=np.array(dataset.index.height, np.int64),
        batch_size=cfg.train.images_per_gpu, seed=cfg.train.seed, rank=rank, world=world,
        flip_prob=cfg.input.flip_prob, shorts=cfg.input.train_shorts or [cfg.input.short],
    )  # fmt: skip
    workers = cfg.train.num_workers
    loader = torch.utils.data.DataLoader(
        TrainDataset(dataset, cfg.input, cfg.augment, cfg.train.seed), batch_sampler=sampler, num_workers=workers,
        collate_fn=functools.partial(collate, divisor=cfg.input.size_divisor), pin_memory=device.type == "cuda",
        persistent_workers=False, prefetch_factor=2 if workers else None,
        # Its own generator: creating an iterator must not draw from the global one, whose state a
        # resumed run restores (worker seeds do not matter: augmentation is drawn by the sampler or from
        # generators seeded per image).
        generator=torch.Generator().manual_seed(cfg.train.seed),
    )  # fmt: skip
    return loader, sampler


def describe(cfg: Config, dataset: CocoDataset, s: Schedule, world: int, device: torch.device) -> str:
    """The run in one paragraph: data, batch, schedule and the options that are on."""
    t, a = cfg.train, cfg.augment
    text = (f"training {cfg.name}: {len(dataset)} images, {cfg.num_classes} classes, "
            f"{t.images_per_gpu * world * t.accumulate} images/iteration ({world} process(es) x {t.images_per_gpu} x "
            f"{t.accumulate} accumulated), {s.total_iters} iterations ({s.iters_per_epoch}/epoch), "
            f"lr {s.base_lr:g} (warm-up {s.warmup_iters}, steps at {list(s.steps)}), device {device}")  # fmt: skip
    empty = int((np.diff(dataset.index.ann_off) == 0).sum())
    if empty:
        text += f"; {empty} of the images are negatives (no annotation)"
    if t.clip_grad_norm > 0:
        text += f"; gradients clipped to norm {t.clip_grad_norm:g}"
    if t.ema_decay > 0:
        text += f"; EMA of the weights (decay {t.ema_decay:g}) evaluated and saved"
    if a.enabled:
        named = (("LSJ", a.lsj), ("crop", a.crop), ("vertical flip", a.vflip_prob > 0), ("rot90", a.rot90),
                 ("photometric", a.photometric))  # fmt: skip
        text += "; augmentations: " + ", ".join(n for n, on in named if on)
    return text
