"""``gnrcnn bench``: inference images/s at the test scale and training s/iter + peak memory at 2 images;
``gnrcnn bench --runtimes``: the table of every runtime (``run_runtimes``).

These are the seed table's "Inf time (fps)" and "Mem (GB)" columns, measured on the bundled photo
(a 300 x 451 picture of a cat, resized to 800 x 1203 by the seed configs). The training
measurement runs in a fresh process (``harness.in_fresh_process``) so that its peak memory is its own.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .. import runtime
from ..config.schema import Config
from ..data.image_io import bundled_photo, read_image
from ..fileio import write_text_atomic
from ..predict.detector import Detector
from . import bench_measure, bench_report, bench_runtimes, harness


def inference_speed(detector: Detector, runs: int = 5, warmup: int = 2) -> dict[str, Any]:
    """Median seconds per image over ``runs`` after ``warmup``; the whole path (resize, network,
    post-processing, mask pasting) from a decoded image to full-size masks."""
    image = read_image(bundled_photo())
    job = {"model": lambda: detector.predict(image, color="rgb")}
    times = harness.alternate(job, runs, warmup, detector.device)["model"]
    med = statistics.median(times)
    return {"s_per_img": med, "fps": 1.0 / med, "runs": times}


def train_step(cfg: Config, device: str | torch.device = "cpu", amp: str | None = None, images: int = 2,
               boxes: int = 8, model: torch.nn.Module | None = None) -> tuple[Callable[[], Any], Any]:  # fmt: skip
    """One call = the trainer's optimizer step (``train/step.py``: forward, backward, SGD) on a synthetic
    batch of ``images`` at the config's scale; with the memory plan it chose. ``model``: that model (trained
    in place) instead of one built from ``cfg``. What ``gnrcnn bench`` and the benchmarks time."""
    from ..build import build_model
    from ..data.preprocess import Normalizer
    from ..data.synthetic import synthetic_batch
    from ..train.memory_plan import plan as plan_memory
    from ..train.setup import make_optimizer
    from ..train.step import OptimizerStep, make_scaler

    dev = torch.device(device)
    model = (model if model is not None else build_model(cfg)).to(dev).train()
    memory = plan_memory(model, cfg, dev, amp)
    model.configure_training(cfg.train.channels_last, memory.recompute)
    step = OptimizerStep(model, make_optimizer(model, cfg), dev, amp=amp, scaler=make_scaler(amp))
    batch, sizes, targets = synthetic_batch(images, cfg.num_classes, cfg.input.short, cfg.input.long, boxes=boxes)
    inputs = (Normalizer(cfg.input, dev).normalize(batch, sizes), sizes.to(dev), targets.to(dev))
    # a warm-up-sized lr keeps the timed steps alike
    return (lambda: step([inputs], 1e-4, lambda b: b)), memory


def train_job(cfg_dict: dict[str, Any], device: str, amp: str | None, iters: int) -> dict[str, Any]:
    """Median s/iter of ``train_step`` at 2 images and the peak memory (what a fresh process runs)."""
    from ..config.loader import config_from_dict

    dev = torch.device(device)
    step, memory = train_step(config_from_dict(cfg_dict), dev, amp)
    times = harness.alternate({"step": step}, iters, 1, dev)["step"]
    return {"s_per_iter": statistics.median(times), "runs": times, "peak_gb": runtime.peak_memory_gb(dev),
            "recompute_backbone": memory.recompute, "memory_plan": memory.reason}  # fmt: skip


def training_speed(cfg: Config, device: str, amp: str | None, iters: int = 3) -> dict[str, Any]:
    """Median s/iter (forward + backward + SGD step, after one warm-up) and peak memory, in a child process."""
    return harness.in_fresh_process(train_job, cfg.to_dict(), device, amp, iters).value


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


def run_runtimes(config: str | None, weights: str | None, overrides: list[str], out: str | Path, *,
                 images: list[Path] | None = None, rounds: int = 5, device: str = "cpu", threads: int | None = None,
                 calib: list[Path] | None = None, val_ann: str | None = None, data_root: str | None = None,
                 memory: bool = True, only: list[str] | None = None) -> list[bench_measure.Row]:  # fmt: skip
    """``gnrcnn bench --runtimes``: every runtime of ``device`` exported, timed in alternating rounds over
    ``images`` (default: the bundled photo), its peak memory and accuracy measured; the table printed and
    written (``bench.md``, ``bench.json``, ``bench.png``) under ``out``; the rows returned in table order."""
    paths = images or [Path(bundled_photo())]
    detector = bench_runtimes.load_pytorch(config, weights, overrides)  # on the CPU: what the exports trace
    source = (config, weights, tuple(overrides))
    with tempfile.TemporaryDirectory(prefix="gnrcnn-bench-") as work:
        prepared = bench_runtimes.prepare(detector, source, Path(work), device=device, threads=threads, calib=calib,
                                          only=only)  # fmt: skip
        del detector
        for name, secs in prepared.export_s.items():
            print(f"{name} export: {secs:.1f} s", flush=True)
        rows = bench_measure.measure(prepared.plans, paths, rounds, gt=val_ann, data_root=data_root, memory=memory)
    order = bench_runtimes.GPU_RUNTIMES if device.startswith("cuda") else bench_runtimes.CPU_RUNTIMES
    rows += [bench_measure.Row(name, reason) for name, reason in prepared.skipped.items()]
    rows.sort(key=lambda r: order.index(r.runtime) if r.runtime in order else len(order))
    header = {"model": config or weights, "device": device, "cpu": harness.cpu_name(),
              "threads": threads or torch.get_num_threads(), "images": len(paths), "rounds": rounds,
              "torch": torch.__version__}  # fmt: skip
    print(bench_report.write(rows, Path(out), header, with_ap=val_ann is not None))
    return rows
