"""torchrun integration: process group set-up and the few collectives training needs."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from . import elastic


def world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) when run directly."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def setup(device: str, timeout_s: float = 1800.0) -> torch.device:
    """Join the process group (nccl on GPU, gloo on CPU) when launched by torchrun; pick this rank's device.
    A collective that waits longer than ``timeout_s`` raises (``elastic.py``)."""
    _, size, local = world()
    dev = torch.device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local if size > 1 else (dev.index or 0))
        torch.cuda.set_device(dev)
    if size > 1 and not dist.is_initialized():
        elastic.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout_s)
    return dev


def initialized() -> bool:
    return dist.is_initialized()


def is_main() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def mean_across_ranks(values: dict[str, float], device: torch.device) -> dict[str, float]:
    if not dist.is_initialized():
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(keys, (t / dist.get_world_size()).tolist()))


def all_true(flag: bool, device: torch.device) -> bool:
    """True on every rank iff ``flag`` is True on every rank."""
    if not dist.is_initialized():
        return flag
    t = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def gather_objects(obj: object) -> list[object]:
    if not dist.is_initialized():
        return [obj]
    out: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
