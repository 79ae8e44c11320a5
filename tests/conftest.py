"""Shared fixtures: test data paths and reference checkpoints built once per session."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from filelock import FileLock

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

# The suite's processes give freed memory back (glibc's defaults): a command keeps what it frees for speed
# (runtime.keep_freed_memory), and in a test worker that runs hundreds of commands the kept memory only grows
# (a worker reached 13.5 GB and was killed for memory on 24 GB with two workers). tests/test_allocator.py
# checks the kept-memory default in processes of its own.
os.environ.setdefault("GNRCNN_MALLOC", "system")
# Under pytest-xdist (`make test` runs two workers) each worker has one thread: two workers on two cores.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
torch.set_num_threads(1 if XDIST_WORKER else max(1, min(2, torch.get_num_threads())))
if XDIST_WORKER:  # and torch.compile builds its kernels in the worker, not in a pool of compile processes (on 2
    import torch._inductor.config  # cores they only compete with the other worker: measured 65 -> 54 s, alone)

    torch._inductor.config.compile_threads = 1


def shared(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], dict | None]
) -> tuple[Path, dict]:
    """A folder ``build`` fills once for the whole run: under pytest-xdist the workers share it (the first
    builds it under a lock, the others wait and reuse it), so a trained model is trained once, not per
    worker. Returns the folder and what ``build`` returned (JSON)."""
    root = tmp_path_factory.getbasetemp()
    root = root.parent if XDIST_WORKER else root  # the workers' temporary folders share this parent
    folder = root / f"shared-{name}"
    with FileLock(str(folder) + ".lock", timeout=1800):
        done = folder / ".built.json"
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            done.write_text(json.dumps(build(folder) or {}, default=str))
        return folder, json.loads(done.read_text())


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
    return tmp_path_factory.mktemp("ckpts")  # per worker: tests write their own files here


@pytest.fixture(scope="session")
def r50_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference sample's weights: seed 2026, background bias 6."""
    write = lambda d: refweights.write_checkpoint("mask-rcnn_r50_fpn_gn-all_2x_coco", d / "w.pth")  # noqa: E731
    return shared(tmp_path_factory, "r50_sample", write)[0] / "w.pth"


@pytest.fixture(scope="session")
def r50_silent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Weights whose background logit dominates: no detection scores above 0.05."""
    config = "mask-rcnn_r50_fpn_gn-all_2x_coco"
    write = lambda d: refweights.write_checkpoint(config, d / "w.pth", bg_bias=60.0)  # noqa: E731
    return shared(tmp_path_factory, "r50_silent", write)[0] / "w.pth"


TINY = DATA / "tiny.yaml"


@pytest.fixture(scope="session")
def shapes8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 8-image training set (and 4 validation images) of 128 x 128 shapes."""
    from gnrcnn.data.shapes import make_shapes

    return shared(tmp_path_factory, "shapes8", lambda root: make_shapes(root, train=8, val=4, size=128, seed=0))[0]


@pytest.fixture(scope="session")
def tiny_trained(shapes8: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gnrcnn checkpoint of tests/assets/tiny.yaml after 30 iterations on shapes8: a weak model, but
    one with detections (scores up to ~0.3) and masks, for the server tests."""
    from gnrcnn import load_config
    from gnrcnn.train.trainer import TrainArgs, Trainer

    def train(work: Path) -> None:
        cfg = load_config(str(TINY), ["train.iters=30", "train.lr_step_iters=[30]", "train.base_lr=0.16"])
        args = TrainArgs(data_root=str(shapes8), ann=str(shapes8 / "annotations" / "train.json"), work_dir=str(work))
        Trainer(cfg, args).train()

    return shared(tmp_path_factory, "tiny_trained", train)[0] / "model_final.pth"


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

    def demo(folder: Path) -> dict:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = main(["demo", "--out", str(folder / "demo"), "--quick", "--device", "cpu"])
        return {"printed": printed.getvalue(), "code": code}

    folder, info = shared(tmp_path_factory, "quick_demo", demo)
    return QuickDemo(folder / "demo", info["printed"], info["code"])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, the modules that share ``quick_demo`` go where the second worker's share begins
    (worksteal gives the first worker the first 1/n of the collection): one worker trains the model first
    while the first runs its share, instead of one worker waiting (measured: 40 s) for the model another is
    still training. The order within each module is kept."""
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    if workers < 2:
        return
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    users = [m for m, its in modules.items() if any("quick_demo" in it.fixturenames for it in its)]
    others = [its for m, its in modules.items() if m not in users]
    ordered: list[pytest.Item] = []
    while others and len(ordered) < len(items) // workers:  # the first worker's share: whole modules
        ordered += others.pop(0)
    for m in users:
        ordered += modules[m]
    items[:] = ordered + [it for its in others for it in its]
