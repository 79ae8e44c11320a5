"""Shared fixtures: test data paths and reference checkpoints built once per session."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from gnrcnn.weights import reference as refweights

ROOT = Path(__file__).parent.parent
ASSETS = DATA = ROOT / "tests" / "assets"  # test inputs (tests/assets/ is the tests of src/gnrcnn/data/)
DOCS = ROOT / "docs"
SCRIPTS = ROOT / "tests" / "scripts"
REFERENCE = DATA / "reference"
SEED_CONFIGS = [
    "mask-rcnn_r50_fpn_gn-all_2x_coco",
    "mask-rcnn_r50_fpn_gn-all_3x_coco",
    "mask-rcnn_r101_fpn_gn-all_2x_coco",
    "mask-rcnn_r101_fpn_gn-all_3x_coco",
    "mask-rcnn_r50-contrib_fpn_gn-all_2x_coco",
    "mask-rcnn_r50-contrib_fpn_gn-all_3x_coco",
]

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(autouse=True, scope="session")
def no_weights_downloads(tmp_path_factory: pytest.TempPathFactory):
    """No test fetches published weights by accident: an empty weights cache, and every zoo URL pointed at
    a closed local port (a test that means to download serves its own files on 127.0.0.1)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GNRCNN_CACHE", str(tmp_path_factory.mktemp("weights-cache")))
        mp.setenv("GNRCNN_WEIGHTS_MIRROR", "http://127.0.0.1:9")
        for var in ("no_proxy", "NO_PROXY"):  # the tests' own servers on 127.0.0.1 are reached directly
            mp.setenv(var, ",".join(filter(None, [os.environ.get(var, ""), "127.0.0.1", "localhost"])))
        yield


@pytest.fixture(scope="session")
def ckpt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ckpts")


@pytest.fixture(scope="session")
def r50_sample(ckpt_dir: Path) -> Path:
    """The reference sample's weights: seed 2026, background bias 6."""
    return refweights.write_checkpoint("mask-rcnn_r50_fpn_gn-all_2x_coco", ckpt_dir / "r50_sample.pth")


@pytest.fixture(scope="session")
def r50_silent(ckpt_dir: Path) -> Path:
    """Weights whose background logit dominates: no detection scores above 0.05."""
    return refweights.write_checkpoint("mask-rcnn_r50_fpn_gn-all_2x_coco", ckpt_dir / "r50_silent.pth", bg_bias=60.0)


TINY = DATA / "tiny.yaml"


@pytest.fixture(scope="session")
def shapes8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 8-image training set (and 4 validation images) of 128 x 128 shapes."""
    from gnrcnn.data.shapes import make_shapes

    root = tmp_path_factory.mktemp("shapes8")
    make_shapes(root, train=8, val=4, size=128, seed=0)
    return root


@pytest.fixture(scope="session")
def tiny_trained(shapes8: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gnrcnn checkpoint of tests/assets/tiny.yaml after 30 iterations on shapes8: a weak model, but
    one with detections (scores up to ~0.3) and masks, for the server tests."""
    from gnrcnn import load_config
    from gnrcnn.train.trainer import TrainArgs, Trainer

    work = tmp_path_factory.mktemp("tiny_trained")
    cfg = load_config(str(TINY), ["train.iters=30", "train.lr_step_iters=[30]", "train.base_lr=0.16"])
    args = TrainArgs(data_root=str(shapes8), ann=str(shapes8 / "annotations" / "train.json"), work_dir=str(work))
    Trainer(cfg, args).train()
    return work / "model_final.pth"


@dataclass(frozen=True)
class QuickDemo:
    out: Path  # data/, train/model_final.pth, predictions/, metrics.json
    printed: str  # what the command printed
    code: int

    @property
    def model(self) -> Path:
        return self.out / "train" / "model_final.pth"


@pytest.fixture(scope="session")
def quick_demo(tmp_path_factory: pytest.TempPathFactory) -> QuickDemo:
    """`gnrcnn demo --quick`, run once: a tiny model trained on 40 shape images (128 px, 100
    iterations), with its 8 validation images. The trained model several tests share."""
    from gnrcnn.cli import main

    out = tmp_path_factory.mktemp("quick_demo") / "demo"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["demo", "--out", str(out), "--quick", "--device", "cpu"])
    return QuickDemo(out, printed.getvalue(), code)
