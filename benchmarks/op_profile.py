"""Where the time goes: torch.profiler's top operators for R-50 inference (fp32, bf16) and one training step.

    python benchmarks/op_profile.py [--depth 50] [--threads 2] [--modes infer,infer-bf16,train] [--top 15]

Inference: the bundled photo (resized to 800x1203), batch 1, after two warm-up runs, one profiled
run. Training: the synthetic 2 x 800x1333 batch of benchmarks/train_step.py, forward + backward +
SGD step, after one warm-up step. Prints a markdown table per mode: operator, self CPU time, share
of the total, calls. Run it on a quiet machine; the allocator setting is on (as the CLI's).
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from gnrcnn import build_model, keep_freed_memory, load_config, runtime
from gnrcnn.data.image_io import read_image
from gnrcnn.data.preprocess import Normalizer
from gnrcnn.data.synthetic import synthetic_batch
from gnrcnn.predict.detector import Detector
from gnrcnn.tools.bench import photo_path
from gnrcnn.train.memory_plan import plan as plan_memory


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


def profile_inference(depth: int, amp: str | None, top: int) -> str:
    cfg = load_config(f"mask-rcnn_r{depth}_fpn_gn-all_2x_coco")
    det = Detector(cfg, build_model(cfg), device="cpu", amp=amp, owns_model=True)
    image = read_image(photo_path())
    for _ in range(2):
        det.predict(image, color="rgb")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        det.predict(image, color="rgb")
    return table(prof, top)


def profile_training(depth: int, top: int) -> str:
    cfg = load_config(f"mask-rcnn_r{depth}_fpn_gn-all_2x_coco")
    model = build_model(cfg).train()
    memory = plan_memory(model, cfg, torch.device("cpu"), None)
    model.configure_training(cfg.train.channels_last, memory.recompute)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-5, momentum=0.9)
    images, sizes, targets = synthetic_batch(2, cfg.num_classes)
    x = Normalizer(cfg.input).normalize(images, sizes)

    def step() -> None:
        loss = sum(model(x, sizes, targets).values())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return f"(backbone recomputation {'on' if memory.recompute else 'off'}: {memory.reason})\n\n" + table(prof, top)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depth", type=int, default=50, choices=[50, 101])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", default="infer,infer-bf16,train")
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    for mode in args.modes.split(","):
        if mode == "train":
            text = profile_training(args.depth, args.top)
        else:
            text = profile_inference(args.depth, "bf16" if mode == "infer-bf16" else None, args.top)
        print(f"\n### R-{args.depth} {mode} (threads {args.threads}, torch {torch.__version__})\n\n{text}")
    print(f"\n{runtime.resolve_amp(torch.device('cpu'), 'auto')[1]}")


if __name__ == "__main__":
    main()
