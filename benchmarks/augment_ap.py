"""Do LSJ and photometric distortion change AP at equal iterations? The demo recipe on generated shapes,
trained once per augmentation setting with everything else equal (data, seed, schedule), scored on the
same validation images.

    PYTHONPATH=src python benchmarks/augment_ap.py --out results/augment_ap            # 4 runs, ~3 min each quiet
    PYTHONPATH=src python benchmarks/augment_ap.py --out results/augment_ap --iters 450 --size 224   # the demo's size

Prints a table (box AP, mask AP, s/iteration) and writes ``<out>/augment_ap.json``; each run's work dir
(``<out>/<variant>/``, with ``model_final.pth``) is kept. One seed per run: differences of about 0.01 AP
are within what another seed gives (measure with ``--seeds 0 1``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from gnrcnn import load_config
from gnrcnn.data.shapes import make_shapes
from gnrcnn.tools.demo import CONFIG
from gnrcnn.tools.harness import add_dry_run, scratch_folder
from gnrcnn.train.trainer import TrainArgs, Trainer

VARIANTS = {
    "baseline": [],
    "photometric": ["augment.photometric=true"],
    "lsj": ["augment.lsj=true"],
    "lsj+photometric": ["augment.lsj=true", "augment.photometric=true"],
    # LSJ keeping instances a crop leaves with 10% of their mask (YOLOv5's rule) instead of 25%
    "lsj_visible0.1": ["augment.lsj=true", "augment.min_visible=0.1"],
}
MAIN = ["baseline", "photometric", "lsj", "lsj+photometric"]


def run(data: Path, paths: dict, out: Path, name: str, over: list[str], args: argparse.Namespace, seed: int) -> dict:
    it = args.iters
    cfg = load_config(CONFIG, [f"input.short={args.size}", f"input.long={args.size}", f"train.iters={it}",
                               f"train.lr_step_iters=[{round(it * 0.8)}, {round(it * 0.933)}]",
                               f"train.warmup_iters={min(50, it // 6)}", "train.log_every=50",
                               f"train.seed={seed}", "train.num_workers=1", *over, *args.extra])  # fmt: skip
    work = out / f"{name}_seed{seed}"
    targs = TrainArgs(data_root=str(data), ann=str(paths["train"]), work_dir=str(work), val_data_root=str(data),
                      val_ann=str(paths["val"]))  # fmt: skip
    start = time.perf_counter()
    metrics = Trainer(cfg, targs).train()
    wall = time.perf_counter() - start
    rows = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    s_iter = sum(r["time"] for r in rows if "time" in r) / max(1, sum(1 for r in rows if "time" in r))
    return {"variant": name, "seed": seed, "box_AP": metrics["bbox"]["AP"], "mask_AP": metrics["segm"]["AP"],
            "box_AP50": metrics["bbox"]["AP50"], "mask_AP50": metrics["segm"]["AP50"],
            "s_per_iter": round(s_iter, 3), "wall_s": round(wall, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/augment_ap")
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--size", type=int, default=160, help="image side (generated and trained at)")
    ap.add_argument("--train", type=int, default=200, help="training images")
    ap.add_argument("--val", type=int, default=50, help="validation images")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--variants", nargs="+", default=MAIN, choices=list(VARIANTS))
    ap.add_argument("--threads", type=int, default=2)
    add_dry_run(ap)
    args = ap.parse_args(argv)
    args.extra = []
    if args.dry_run:
        args.out, args.iters, args.size, args.train, args.val = scratch_folder(), 3, 64, 2, 1
        args.variants, args.seeds = ["baseline"], [0]
        args.extra = ["train.images_per_gpu=1", "train.num_workers=0"]  # no worker process to start
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    data = out / "data"
    paths = make_shapes(data, args.train, args.val, args.size, seed=0)
    results = []
    for seed in args.seeds:
        for name in args.variants:
            results.append(run(data, paths, out, name, VARIANTS[name], args, seed))
            (out / "augment_ap.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    print(f"\n{args.iters} iterations at {args.size} px, {args.train} training / {args.val} validation images")
    print(f"{'variant':<16} {'seed':>4} {'box AP':>7} {'mask AP':>7} {'AP50 box':>8} {'AP50 mask':>9} {'s/iter':>7}")
    for r in results:
        print(
            f"{r['variant']:<16} {r['seed']:>4} {r['box_AP']:7.3f} {r['mask_AP']:7.3f} {r['box_AP50']:8.3f} "
            f"{r['mask_AP50']:9.3f} {r['s_per_iter']:7.2f}"
        )


if __name__ == "__main__":
    main()
