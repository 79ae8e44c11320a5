"""``torchrun ... train_traced.py CONFIG DATA_ROOT WORK_DIR [OVERRIDE ...]``: training through the public
``gnrcnn.train_model`` with a callback that writes, per rank, the image ids of every step (what the torchrun
tests check).

Environment: ``TRACE_DIR`` (default WORK_DIR) receives the traces; ``MAX_ITERS`` (default 4);
``KILL_AT=RANK:ITER`` SIGKILLs that rank after that iteration, once (it leaves the file
``TRACE_DIR/killed``, or ``KILL_MARKER``, behind), and ``HANG_AT=RANK:ITER`` makes it sleep there for an
hour in the first run (``TORCHELASTIC_RESTART_COUNT`` 0), so a restarted group trains on.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import gnrcnn
from gnrcnn.train.trainer import Trainer


def _planned(name: str, once: bool = False) -> tuple[int, int] | None:
    value = os.environ.get(name)
    if not value or (not once and int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) > 0):
        return None
    rank, it = value.split(":")
    return int(rank), int(it)


def main() -> None:
    config, root, work, *overrides = sys.argv[1:]
    trace_dir = Path(os.environ.get("TRACE_DIR", work))
    kill, hang = _planned("KILL_AT", once=True), _planned("HANG_AT")
    marker = Path(os.environ.get("KILL_MARKER", trace_dir / "killed"))

    def trace(trainer: Trainer, batches: list) -> None:
        ids = " ".join(str(m.image_id) for b in batches for m in b.metas)
        with open(trace_dir / f"data_trace.rank{trainer.rank}.txt", "a") as f:
            f.write(f"{trainer.iteration} {ids}\n")
        if kill == (trainer.rank, trainer.iteration) and not marker.exists():
            marker.write_text("killed\n")
            os.kill(os.getpid(), signal.SIGKILL)
        if hang == (trainer.rank, trainer.iteration):
            # Hung as in native code, where no Python handler runs: torchrun's SIGTERM ends it at once
            # (the trainer's handler would only ask it to stop after the step, and torchrun would wait
            # 30 s before its SIGKILL).
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            time.sleep(3600)

    # every process calls it; the trainer joins the process group and leaves it at the end
    gnrcnn.train_model(config, data_root=root, ann=Path(root) / "annotations" / "train.json", work_dir=work,
                       overrides=["train.images_per_gpu=1", *overrides], callbacks=[trace],
                       max_iters=int(os.environ.get("MAX_ITERS", "4")), device="cpu")  # fmt: skip


if __name__ == "__main__":
    main()
