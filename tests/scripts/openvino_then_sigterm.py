"""One process, as a notebook runs it: OpenVINO INT8 export and a folder in throughput mode, then training,
then SIGTERM. It must exit 143 with its checkpoint (it ended in SIGSEGV when each OpenVINO call made a Core of
its own: see docs/reliability.md, "The OpenVINO-then-signal crash").

    python openvino_then_sigterm.py CONFIG WORK_DIR
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from gnrcnn import train_model
from gnrcnn.cli import main
from gnrcnn.data.shapes import make_shapes


def run(config: str, work: Path) -> int:
    data = work / "data"
    make_shapes(data, train=4, val=2, size=64, seed=0)
    ann = data / "annotations" / "train.json"
    first = train_model(config, data_root=data, ann=ann, work_dir=work / "first", max_iters=1, device="cpu")
    xml = work / "int8.xml"
    export = ["export", "--config", config, "--weights", str(first.final), "--int8", "--calib", str(data / "val"),
              "--calib-count", "2", "--out", str(xml)]  # fmt: skip
    predict = ["predict", "--weights", str(xml), str(data / "val"), "--out", str(work / "pred"), "--no-pictures"]
    if main(export) != 0 or main(predict) != 0:  # a folder runs in OpenVINO's throughput mode
        return 1

    def term_at_2(trainer, batches) -> None:
        if trainer.iteration == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    from gnrcnn.train.interrupt import TrainingInterruptedError

    try:
        train_model(config, data_root=data, ann=ann, work_dir=work / "second", max_iters=4, device="cpu",
                    callbacks=[term_at_2])  # fmt: skip
    except TrainingInterruptedError as e:
        print(e, file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], Path(sys.argv[2])))
