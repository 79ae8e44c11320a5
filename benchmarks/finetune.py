"""Fine-tuning a trained checkpoint on other classes vs training from scratch, at equal iterations (docs/finetune.md).

    python benchmarks/finetune.py --out results/finetune            # minutes on 2 quiet CPU cores
    python benchmarks/finetune.py --out /tmp/ft --quick             # the plumbing only
    python benchmarks/finetune.py --threads 1 ...                   # on a machine shared with other jobs
    python benchmarks/finetune.py --dry-run                         # seconds: 64 px, 3 iterations, one process

On a CPU shared with other jobs, ``--threads 1`` (OMP_NUM_THREADS=1 for every step) avoids threads
spinning on each other: 8 s instead of 44 s per iteration when measured under a load of ~24 on 2 cores.

On the demo's generated data, with the demo's config at 96 px and 2 images per iteration:
1. "pretrain": a checkpoint trained on circles, triangles and rectangles (a stand-in for the
   published COCO model, which cannot be downloaded here);
2. a small dataset of *other* classes (stars, hexagons, crosses), trained for the same number of
   iterations three ways: from scratch, fine-tuned from the checkpoint (everything trains), and
   fine-tuned with the backbone frozen (``model.backbone.frozen_stages=4``);
3. box/mask AP of each on the same validation images, a table, and the loss curves as a PNG.

Every step is the ``gnrcnn`` command a user types (printed before it runs), in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from gnrcnn.tools.harness import add_dry_run, scratch_folder

CONFIG = "shapes-demo_r18_fpn_gn-all"
B_CLASSES = "star,hexagon,cross"
ENV = dict(os.environ)
IN_PROCESS = []  # the dry run: each command in this process (a fresh one costs more than the command)


def schedule(iters: int, size: int) -> list[str]:
    """The demo's recipe at ``size`` px for ``iters`` iterations: lr x0.1 at 80% and 93%."""
    steps = [round(iters * 0.8), round(iters * 0.93)]
    warmup = max(5, min(50, iters // 8))
    sets = [
        f"input.short={size}",
        f"input.long={size}",
        f"train.iters={iters}",
        f"train.lr_step_iters=[{steps[0]},{steps[1]}]",
        f"train.warmup_iters={warmup}",
        "train.log_every=10",
        "train.num_workers=0",
        "train.keep_checkpoints=1",
    ]
    return [a for s in sets for a in ("--set", s)]


def gnrcnn(*args: str) -> float:
    """Run one ``gnrcnn`` command, printing it; returns its wall time in seconds."""
    print("\n$ gnrcnn " + " ".join(args), flush=True)
    start = time.perf_counter()
    if IN_PROCESS:
        from gnrcnn.cli import main

        if main(list(args)) != 0:
            raise SystemExit(f"gnrcnn {args[0]} failed")
    else:
        subprocess.run([sys.executable, "-m", "gnrcnn", *args], check=True, env=ENV)
    return time.perf_counter() - start


def train(out: Path, name: str, data: Path, iters: int, size: int, *extra: str) -> dict:
    work = out / name
    ann = data / "annotations"
    wall = gnrcnn("train", "--config", CONFIG, "--data-root", str(data), "--ann", str(ann / "train.json"),
                  "--val-ann", str(ann / "val.json"), "--work-dir", str(work),
                  *schedule(iters, size), *extra)  # fmt: skip
    m = json.loads((work / "metrics.json").read_text())
    return {"run": name, "iters": iters, "box_AP": m["bbox"]["AP"], "mask_AP": m["segm"]["AP"],
            "box_AP50": m["bbox"]["AP50"], "mask_AP50": m["segm"]["AP50"], "wall_s": round(wall, 1)}  # fmt: skip


def plot(out: Path, runs: list[str], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for name in runs:
        rows = [json.loads(line) for line in (out / name / "metrics.jsonl").read_text().splitlines() if line.strip()]
        rows = [r for r in rows if "loss" in r]  # not the data record or evaluations
        ax.plot([r["iter"] for r in rows], [r["loss"] for r in rows], label=name, linewidth=1.5)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("total training loss")
    ax.set_title("stars, hexagons, crosses: from scratch vs fine-tuned from a shapes checkpoint")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/finetune")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks the plumbing, not the numbers")
    ap.add_argument("--size", type=int, default=96, help="image side in pixels")
    ap.add_argument("--pretrain-iters", type=int, default=200)
    ap.add_argument("--pretrain-images", type=int, default=200)
    ap.add_argument("--iters", type=int, default=150, help="iterations on the new classes, for every run")
    ap.add_argument("--batch-size", type=int, default=2, help="images per iteration (all runs)")
    ap.add_argument("--threads", type=int, help="OMP_NUM_THREADS for every step")
    ap.add_argument("--new-images", type=int, default=60, help="training images of the new classes")
    ap.add_argument("--png", help="loss-curve picture (default: OUT/finetune_loss.png)")
    add_dry_run(ap)
    args = ap.parse_args(argv)
    if args.dry_run:
        args.pretrain_iters, args.pretrain_images, args.iters, args.new_images, args.size = 3, 2, 3, 2, 64
        args.quick, args.out, args.batch_size = True, scratch_folder(), 1
        IN_PROCESS.append(True)
    if args.quick and not args.dry_run:
        args.pretrain_iters, args.pretrain_images, args.iters, args.new_images, args.size = 20, 10, 10, 8, 96
    if args.threads:
        ENV["OMP_NUM_THREADS"] = str(args.threads)
    out = Path(args.out)
    a, b = out / "data_a", out / "data_b"
    n_val = 1 if args.dry_run else 8 if args.quick else 50
    gnrcnn("make-shapes", "--out", str(a), "--train", str(args.pretrain_images), "--val", str(n_val),
           "--size", str(args.size), "--seed", "0")  # fmt: skip
    gnrcnn("make-shapes", "--out", str(b), "--train", str(args.new_images), "--val", str(n_val), "--size",
           str(args.size), "--seed", "1", "--classes", B_CLASSES)  # fmt: skip
    batch = ("--batch-size", str(args.batch_size))
    rows = [train(out, "pretrain", a, args.pretrain_iters, args.size, *batch)]
    ckpt = str(out / "pretrain" / "model_final.pth")
    rows.append(train(out, "scratch", b, args.iters, args.size, *batch))
    rows.append(train(out, "finetune", b, args.iters, args.size, *batch, "--weights", ckpt))
    rows.append(train(out, "finetune-frozen", b, args.iters, args.size, *batch, "--weights", ckpt,
                      "--set", "model.backbone.frozen_stages=4"))  # fmt: skip
    plot(out, ["scratch", "finetune", "finetune-frozen"], Path(args.png or out / "finetune_loss.png"))
    (out / "summary.json").write_text(json.dumps(rows, indent=2))
    print(f"\n{'run':<16} {'iters':>5} {'box AP':>7} {'mask AP':>8} {'box AP50':>9} {'mask AP50':>10} {'wall s':>7}")
    for r in rows:
        print(f"{r['run']:<16} {r['iters']:>5} {r['box_AP']:>7.3f} {r['mask_AP']:>8.3f} {r['box_AP50']:>9.3f} "
              f"{r['mask_AP50']:>10.3f} {r['wall_s']:>7.0f}")  # fmt: skip
    print("(pretrain: circles/triangles/rectangles; the others: stars/hexagons/crosses, same validation images)")


if __name__ == "__main__":
    main()
