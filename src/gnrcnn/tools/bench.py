"""``gnrcnn bench``: inference images/s at the test scale and training s/iter + peak memory at 2 images.

These are the seed table's "Inf time (fps)" and "Mem (GB)" columns, measured on the bundled photo
(a 300 x 451 picture of a cat, resized to 800 x 1203 by the seed configs). The training
measurement runs in a child process so that its peak memory is its own.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import statistics
import time
from typing import Any

import torch

from .. import runtime
from ..config.schema import Config
from ..data.image_io import bundled_photo, read_image
from ..fileio import write_text_atomic
from ..predict.detector import Detector

photo_path = bundled_photo  # the name benchmarks/ import


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def inference_speed(detector: Detector, runs: int = 5, warmup: int = 2) -> dict[str, Any]:
    """Median seconds per image over ``runs`` after ``warmup``; the whole path (resize, network,
    post-processing, mask pasting) from a decoded image to full-size masks."""
    image = read_image(photo_path())
    times = []
    for i in range(warmup + runs):
        _sync(detector.device)
        t = time.perf_counter()
        detector.predict(image, color="rgb")
        _sync(detector.device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return {"s_per_img": med, "fps": 1.0 / med, "runs": times}


def _train_child(cfg_dict: dict[str, Any], device: str, amp: str | None, iters: int, threads: int, q: Any) -> None:
    from ..build import build_model
    from ..config.loader import config_from_dict
    from ..data.preprocess import Normalizer
    from ..data.synthetic import synthetic_batch
    from ..train.memory_plan import plan as plan_memory
    from ..train.setup import make_optimizer
    from ..train.step import OptimizerStep, make_scaler

    runtime.keep_freed_memory()  # a spawned child: the parent's setting does not carry over
    torch.set_num_threads(threads)
    cfg = config_from_dict(cfg_dict)
    dev = torch.device(device)
    model = build_model(cfg).to(dev).train()
    memory = plan_memory(model, cfg, dev, amp)
    model.configure_training(cfg.train.channels_last, memory.recompute)
    step = OptimizerStep(model, make_optimizer(model, cfg), dev, amp=amp, scaler=make_scaler(amp))
    images, sizes, targets = synthetic_batch(2, cfg.num_classes, cfg.input.short, cfg.input.long)
    inputs = (Normalizer(cfg.input, dev).normalize(images, sizes), sizes.to(dev), targets.to(dev))
    times = []
    for i in range(iters + 1):
        _sync(dev)
        t = time.perf_counter()
        step([inputs], 1e-4, lambda batch: batch)  # the trainer's step; a warm-up-sized lr keeps the timed steps alike
        _sync(dev)
        if i:
            times.append(time.perf_counter() - t)
    q.put(
        {
            "s_per_iter": statistics.median(times),
            "runs": times,
            "peak_gb": runtime.peak_memory_gb(dev),
            "recompute_backbone": memory.recompute,
            "memory_plan": memory.reason,
        }
    )


def training_speed(cfg: Config, device: str, amp: str | None, iters: int = 3) -> dict[str, Any]:
    """Median s/iter (forward + backward + SGD step, after one warm-up) and peak memory, in a child process."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_train_child, args=(cfg.to_dict(), device, amp, iters, torch.get_num_threads(), q))
    p.start()
    result = q.get()
    p.join()
    return result


def report(name: str, device: str, amp: str | None, inf: dict[str, Any] | None, train: dict[str, Any] | None) -> str:
    threads = torch.get_num_threads()
    lines = [f"{name}  device={device}  amp={amp or 'fp32'}  threads={threads}  torch {torch.__version__}"]
    if inf:
        lines.append(f"  inference: {inf['s_per_img'] * 1000:.0f} ms/img = {inf['fps']:.2f} img/s "
                     f"(median of {len(inf['runs'])} after warm-up)")  # fmt: skip
    if train:
        it, gb = train["s_per_iter"], train["peak_gb"]
        lines.append(
            f"  training:  {it:.2f} s/iter at 2 images, peak memory {gb:.2f} GB "
            f"(backbone recomputation {'on' if train['recompute_backbone'] else 'off'})"
        )
    return "\n".join(lines)


def to_json(name: str, device: str, amp: str | None, inf: Any, train: Any) -> str:
    return json.dumps({"config": name, "device": device, "amp": amp, "threads": torch.get_num_threads(),
                       "torch": torch.__version__, "inference": inf, "training": train})  # fmt: skip


def run(detector: Detector, runs: int = 5, train_iters: int = 3, *, inference: bool = True, train: bool = True,
        json_path: str | None = None) -> str:  # fmt: skip
    """``gnrcnn bench``: measure, print the report, and write (or print) the JSON; returns the JSON."""
    cfg, dev, amp = detector.cfg, str(detector.device), detector.amp
    inf = inference_speed(detector, runs) if inference else None
    trained = training_speed(cfg, dev, amp, train_iters) if train else None
    print(report(cfg.name, dev, amp, inf, trained))
    out = to_json(cfg.name, dev, amp, inf, trained)
    if json_path:
        write_text_atomic(out + "\n", json_path, "benchmark results")
    else:
        print(out)
    return out
