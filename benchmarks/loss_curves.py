"""Two training runs' loss curves on one picture (e.g. fp32 vs --amp bf16 on the demo).

python benchmarks/loss_curves.py RUN_A/metrics.jsonl RUN_B/metrics.jsonl --labels fp32 bf16 --out curves.png
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from gnrcnn.train.events.jsonl import read_metrics


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--labels", nargs="+")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for path, label in zip(args.runs, args.labels or args.runs):
        rows = read_metrics(path).steps
        ax.plot([r["iter"] for r in rows], [r["loss"] for r in rows], label=label, linewidth=1.5)
        last = rows[-5:]
        print(f"{label}: first {rows[0]['loss']:.3f}, mean of the last 5 logged {sum(r['loss'] for r in last) / 5:.3f}")
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("total loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out)


if __name__ == "__main__":
    main()
