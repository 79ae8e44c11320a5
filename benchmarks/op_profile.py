"""Where the time goes: torch.profiler's top operators for R-50 inference (fp32, bf16) and one training step.

    python benchmarks/op_profile.py [--depth 50] [--threads 2] [--modes infer,infer-bf16,train] [--top 15]
                                    [--dry-run]

Inference: the bundled photo (resized to 800x1203), batch 1, after two warm-up runs, one profiled
run. Training: the trainer's step (``tools/bench.train_step``: forward + backward + SGD step) on a
synthetic 2 x 800x1333 batch, after one warm-up step. Prints a markdown table per mode: operator, self CPU time, share
of the total, calls. Run it on a quiet machine; the allocator setting is on (as the CLI's).
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from gnrcnn import build_model, keep_freed_memory, load_config, runtime
from gnrcnn.data.image_io import bundled_photo, read_image
from gnrcnn.predict.detector import Detector
from gnrcnn.tools.bench import train_step
from gnrcnn.tools.harness import DRY_CONFIG, DRY_OVERRIDES, add_dry_run


def table(prof: profile, top: int) -> str:
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    rows = ["| operator | self CPU (ms) | share | calls |", "|---|---|---|---|"]
    for e in events[:top]:
        rows.append(f"| `{e.key}` | {e.self_cpu_time_total / 1e3:.1f} | "
                    f"{100 * e.self_cpu_time_total / total:.1f}% | {e.count} |")  # fmt: skip
    rows.append(f"| total | {total / 1e3:.1f} | 100% | |")
    return "\n".join(rows)


def profile_inference(cfg: object, amp: str | None, top: int) -> str:
    det = Detector(cfg, build_model(cfg), device="cpu", amp=amp, owns_model=True)
    image = read_image(bundled_photo())
    for _ in range(2):
        det.predict(image, color="rgb")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        det.predict(image, color="rgb")
    return table(prof, top)


def profile_training(cfg: object, top: int) -> str:
    step, memory = train_step(cfg)
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return f"(backbone recomputation {'on' if memory.recompute else 'off'}: {memory.reason})\n\n" + table(prof, top)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depth", type=int, default=50, choices=[50, 101])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", default="infer,infer-bf16,train")
    ap.add_argument("--top", type=int, default=15)
    add_dry_run(ap)
    args = ap.parse_args(argv)
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    name = f"mask-rcnn_r{args.depth}_fpn_gn-all_2x_coco"
    cfg = load_config(DRY_CONFIG, DRY_OVERRIDES) if args.dry_run else load_config(name)
    for mode in args.modes.split(","):
        if mode == "train":
            text = profile_training(cfg, args.top)
        else:
            text = profile_inference(cfg, "bf16" if mode == "infer-bf16" else None, args.top)
        print(f"\n### R-{args.depth} {mode} (threads {args.threads}, torch {torch.__version__})\n\n{text}")
    print(f"\n{runtime.resolve_amp(torch.device('cpu'), 'auto')[1]}")


if __name__ == "__main__":
    main()
