"""How many source files one image through ``gnrcnn predict`` (and one batch through training) visits:
the table of docs/architecture.md.

    PYTHONPATH=src python benchmarks/files_visited.py [--json out.json]

A file-level call trace (``sys.setprofile``): every call of a Python function defined under
``src/gnrcnn`` whose file differs from the file of the nearest gnrcnn frame below it on the stack is a
call between files; a call into a file visited before is a call back. Every gnrcnn module is imported
before tracing, so only calls count, not imports.

- predict: ``gnrcnn predict --config tests/assets/tiny.yaml --weights none IMAGE --out DIR`` of one
  400 x 600 image (the CLI's parsing included, the weights' initialisation and the picture too);
- train: one batch of 2 images of 64 px: loading it from the loader, then ``Trainer.step``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import pkgutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

import gnrcnn
from gnrcnn.tools.harness import add_dry_run

SRC = str(Path(gnrcnn.__file__).parent) + "/"
ROOT = Path(__file__).resolve().parents[1]


class Trace:
    def __init__(self) -> None:
        self.files: list[str] = []
        self.calls = 0
        self.back = 0

    def __call__(self, frame: Any, event: str, arg: Any) -> None:
        if event != "call" or not frame.f_code.co_filename.startswith(SRC):
            return
        callee = frame.f_code.co_filename
        caller = frame.f_back
        while caller is not None and not caller.f_code.co_filename.startswith(SRC):
            caller = caller.f_back
        if caller is not None and caller.f_code.co_filename == callee:
            return
        if caller is not None:
            self.calls += 1
            self.back += callee in self.files
        if callee not in self.files:
            self.files.append(callee)

    def result(self) -> dict[str, Any]:
        return {"files": len(self.files), "calls_between_files": self.calls, "calls_back": self.back,
                "order": [f[len(SRC):] for f in self.files]}  # fmt: skip


def traced(fn: Any) -> dict[str, Any]:
    trace = Trace()
    sys.setprofile(trace)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return trace.result()


def import_everything() -> None:
    for mod in pkgutil.walk_packages(gnrcnn.__path__, "gnrcnn."):
        if mod.name == "gnrcnn.__main__":  # runs the command line when imported
            continue
        with contextlib.suppress(ImportError):  # an optional extra that is not installed
            importlib.import_module(mod.name)


def predict(tmp: Path) -> dict[str, Any]:
    from gnrcnn.cli import main

    image = np.random.default_rng(0).integers(0, 255, (400, 600, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp / "image.png"), image)
    argv = ["predict", "--config", str(ROOT / "tests/assets/tiny.yaml"), "--weights", "none", str(tmp / "image.png"),
            "--out", str(tmp / "out"), "--device", "cpu"]  # fmt: skip
    main(argv)  # a first run: lazily made caches (thread pools, the allocator) out of the count
    return traced(lambda: main(argv))


def train(tmp: Path) -> dict[str, Any]:
    from gnrcnn import load_config
    from gnrcnn.data.shapes import make_shapes
    from gnrcnn.train.trainer import TrainArgs, Trainer

    make_shapes(tmp / "data", 4, 0, 64, 0)
    cfg = load_config(str(ROOT / "tests/assets/tiny.yaml"), ["train.images_per_gpu=2", "input.short=64",
                                                             "input.long=64", "train.num_workers=0"])  # fmt: skip
    args = TrainArgs(data_root=str(tmp / "data"), ann=str(tmp / "data/annotations/train.json"),
                     work_dir=str(tmp / "work"), device="cpu")  # fmt: skip
    trainer = Trainer(cfg, args)
    trainer.step([next(iter(trainer.loader))])  # warm-up, as above

    def one_batch() -> None:
        trainer.step([next(iter(trainer.loader))])

    return traced(one_batch)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json")
    add_dry_run(ap)
    args = ap.parse_args(argv)
    if args.dry_run:
        pass  # the two traces are small already: the dry run is the run
    import_everything()
    with tempfile.TemporaryDirectory() as tmp:
        out = {"predict": predict(Path(tmp)), "train": train(Path(tmp))}
    for name, r in out.items():
        print(f"{name}: {r['files']} files, {r['calls_between_files']} calls between files, {r['calls_back']} back")
        print("  " + " ".join(r["order"]))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
