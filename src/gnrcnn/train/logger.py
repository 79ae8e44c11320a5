"""Training logs: a tqdm bar with rate and ETA, ``metrics.jsonl``, TensorBoard when installed, a loss-curve PNG.

``metrics.jsonl`` holds one line per logged step (``loss``, each ``loss_*``, ``lr``, ...), one per
evaluation during training (``eval``: {"bbox.AP": ..., "segm.AP": ...}, ``best``, ``evals_since_best``)
and, first, the run's ``data`` record (``train/data_summary.py``): read the kind you want by its key.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .. import runtime
from ..fileio import write_figure_atomic, write_text_atomic
from ..progress import progress


def trim_jsonl(path: Path, last_iter: int) -> None:
    """Drop entries logged after ``last_iter`` (a crash after logging, before the checkpoint), so a resumed
    run's log reads as if it had never stopped; a fresh run (``last_iter`` 0) drops an old run's data record."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
            if rec["iter"] <= last_iter and not ("data" in rec and rec["iter"] >= last_iter):
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short by the crash
    write_text_atomic("".join(k + "\n" for k in kept), path, "log")


class MetricsLogger:
    def __init__(self, work_dir: Path, total: int, start: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self.path = work_dir / "metrics.jsonl"
        self.tb = None
        self.bar = None
        if not enabled:
            return
        trim_jsonl(self.path, start)
        self.bar = progress(total=total, initial=start, desc="train", unit="it", file=sys.stderr, dynamic_ncols=True)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(work_dir / "tb"), purge_step=start or None)
        except ImportError:  # TensorBoard is optional (pip install gnrcnn[tensorboard])
            self.tb = None

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def _append(self, record: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def log_record(self, record: dict[str, Any]) -> None:
        """A ``metrics.jsonl`` line of another kind (the training data's counts)."""
        if self.enabled:
            self._append(record)

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self._append(record)
        if self.tb is not None:
            for k, v in record.items():
                if k not in ("iter", "epoch") and isinstance(v, (int, float)):
                    self.tb.add_scalar(f"train/{k}", v, record["iter"])
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}", refresh=False)

    def log_eval(self, record: dict[str, Any]) -> None:
        """One evaluation: a ``metrics.jsonl`` line and ``val/*`` TensorBoard scalars."""
        if not self.enabled:
            return
        self._append(record)
        if self.tb is not None:
            for k, v in record["eval"].items():
                self.tb.add_scalar(f"val/{k}", v, record["iter"])
            if record.get("best") is not None:
                self.tb.add_scalar(f"val/best_{record['best_metric']}", record["best"], record["iter"])
            self.tb.flush()

    def write(self, text: str) -> None:
        if self.enabled:
            (self.bar.write if self.bar is not None else print)(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.tb is not None:
            self.tb.close()


def plot_losses(jsonl: Path, png: Path) -> bool:
    """Total and per-component losses against the iteration; False if matplotlib is missing."""
    if (plt := runtime.pyplot()) is None:
        return False
    lines = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    rows = [r for r in lines if "loss" in r]
    evals = [r for r in lines if "eval" in r]
    if not rows:
        return False
    its = [r["iter"] for r in rows]
    # One colour per line across both axes (losses: solid, AP: dashed with dots), legends outside the data.
    fig, ax = plt.subplots(figsize=(9.5, 4.5), dpi=110, layout="constrained")
    ax.plot(its, [r["loss"] for r in rows], label="total", color="black", linewidth=2)
    loss_colors = iter(["tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:gray"])
    for key in [k for k in rows[0] if k.startswith("loss_")]:
        # a batch of negatives has no box or mask loss: 0 has no place on a log axis
        ax.plot(its, [r[key] if r[key] > 0 else float("nan") for r in rows], label=key[5:], linewidth=1,
                color=next(loss_colors, None))  # fmt: skip
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("training loss" + (" and validation AP" if evals else ""))
    handles, labels = ax.get_legend_handles_labels()
    if evals:  # AP on a second axis, one point per evaluation
        ap = ax.twinx()
        for key, color in (("bbox.AP", "tab:blue"), ("segm.AP", "tab:red")):
            ap.plot([r["iter"] for r in evals], [r["eval"].get(key, 0.0) for r in evals], "o--", color=color,
                    label=f"val {key}")  # fmt: skip
        ap.set_ylabel("AP")
        more = ap.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    fig.legend(handles, labels, loc="outside right upper", fontsize=8)
    write_figure_atomic(fig, png)
    return True
