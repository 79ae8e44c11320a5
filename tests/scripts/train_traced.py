"""``torchrun ... train_traced.py CONFIG DATA_ROOT WORK_DIR``: training through the public Trainer with a
hook that writes, per rank, the image ids of every step (what the torchrun test checks)."""

from __future__ import annotations

import sys
from pathlib import Path

from gnrcnn import load_config
from gnrcnn.train.trainer import TrainArgs, Trainer


def main() -> None:
    config, root, work = sys.argv[1:4]
    args = TrainArgs(data_root=root, ann=str(Path(root) / "annotations" / "train.json"), work_dir=work,
                     max_iters=4, device="cpu")  # fmt: skip
    cfg = load_config(config, ["train.images_per_gpu=1"])

    def trace(trainer: Trainer, batches: list) -> None:
        ids = " ".join(str(m.image_id) for b in batches for m in b.metas)
        with open(Path(work) / f"data_trace.rank{trainer.rank}.txt", "a") as f:
            f.write(f"{trainer.iteration} {ids}\n")

    Trainer(cfg, args, hooks=[trace]).train()  # the trainer leaves the process group it joined


if __name__ == "__main__":
    main()
