"""What training is built from: the dataset, the model and its starting weights, the optimizer, the loader."""

from __future__ import annotations

import dataclasses
import functools
import random
import sys
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from .. import distributed as dist
from ..build import build_for_training
from ..config.schema import Config
from ..data.coco import CocoDataset
from ..data.problems import summarize
from ..data.sampler import GroupedBatchSampler
from ..data.shared_index import read_shared
from ..data.train_data import Batch, TrainDataset, collate
from .args import TrainArgs
from .memory_plan import plan as plan_memory
from .schedule import Schedule


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


def make_model(cfg: Config, args: TrainArgs, resuming: bool, device: torch.device, main: bool) -> nn.Module:
    """The model on ``device`` in training mode, with its starting weights (none when resuming: the checkpoint
    holds them, so nothing is loaded or downloaded) and its memory plan (backbone recomputation or not)."""
    start = ("none", "none") if resuming else (args.weights, args.backbone_weights)
    model = build_for_training(cfg, *start, main and not resuming).to(device).train()
    memory = plan_memory(model, cfg, device, args.amp)
    model.configure_training(cfg.train.channels_last, memory.recompute)
    if main:
        print(f"backbone recomputation {'on' if memory.recompute else 'off'}: {memory.reason}")
    return model


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


def batch_groups(loader: torch.utils.data.DataLoader, sampler: GroupedBatchSampler, iters_per_epoch: int,
                 accumulate: int, start: int) -> Iterator[list[Batch]]:  # fmt: skip
    """Lists of ``accumulate`` batches, one per iteration, epoch after epoch, from iteration ``start`` on."""
    it = start
    while True:
        epoch, done = divmod(it, iters_per_epoch)
        sampler.set_epoch(epoch, done * accumulate)
        group: list[Batch] = []
        for batch in loader:
            group.append(batch)
            if len(group) == accumulate:
                yield group
                group, it = [], it + 1
                if it % iters_per_epoch == 0:  # epoch boundary: restart the sampler
                    break


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
