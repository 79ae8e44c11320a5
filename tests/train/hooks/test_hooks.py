"""Training from Python with hooks: gnrcnn.train_model returns its result, a user's hook sees every step and
evaluation and reaches every writer, hook state resumes bit-exactly, a raising hook is one line, the
schedule fits the run, and the event store hands a user's scalar and picture to every writer."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import gnrcnn
from gnrcnn.config.schema import TrainConfig
from gnrcnn.data.image_io import read_image
from gnrcnn.fileio import read_json_lines
from gnrcnn.train.events import EventStore
from gnrcnn.train.events.jsonl import JsonWriter, read_metrics
from gnrcnn.train.hooks import Hook, HookError
from gnrcnn.train.schedule import make_schedule
from gnrcnn.weights import load_weights_file

from conftest import DOCS, TINY

RUN = {"eval_every": "2it", "max_iters": 4, "num_workers": 0}


class Recorder(Hook):
    """Sees every point; counts its steps as state (saved in checkpoints); puts a scalar and a picture."""

    name = "recorder"

    def __init__(self) -> None:
        self.points: list[tuple[str, Any]] = []
        self.steps = 0  # its state: resumed with the run

    def before_train(self, trainer) -> None:
        self.points.append(("before_train", trainer.iteration))

    def before_step(self, trainer) -> None:
        self.points.append(("before_step", trainer.iteration))

    def after_step(self, trainer, batches) -> None:
        self.steps += 1
        self.points.append(("after_step", trainer.iteration))
        trainer.events.put_scalar("steps_seen", self.steps, group="custom")
        if trainer.iteration == 2:
            picture = np.zeros((16, 24, 3), np.uint8)
            picture[:, :8, 0] = 255
            trainer.events.put_image("stripes", picture)

    def after_eval(self, trainer, metrics, tag) -> None:
        self.points.append(("after_eval", tag, round(metrics["segm"]["AP"], 6)))

    def after_train(self, trainer, outcome) -> None:
        self.points.append(("after_train", outcome))

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = state["steps"]


def _train(shapes8: Path, work: Path, callbacks: list, **kw: Any) -> Any:
    return gnrcnn.train_model(TINY, data_root=shapes8, ann=shapes8 / "annotations" / "train.json",
                              val_ann=shapes8 / "annotations" / "val.json", work_dir=work, callbacks=callbacks,
                              device="cpu", **{**RUN, **kw})  # fmt: skip


def documented_hook() -> type:
    """The worked example of docs/training.md ("Hooks"): its first code block, run as written."""
    page = (DOCS / "training.md").read_text()
    section = page[page.index("### A worked example") :]
    namespace: dict[str, Any] = {}
    exec(re.search(r"```python\n(.*?)```", section, re.S).group(1), namespace)
    return namespace["ValidationPictures"]


@pytest.fixture(scope="module")
def straight(shapes8: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Recorder, Any]:
    """One run with two user hooks: the recorder and the documented example (a picture every 2 iterations)."""
    work = tmp_path_factory.mktemp("hooks_straight")
    rec = Recorder()
    return work, rec, _train(shapes8, work, [rec, _pictures(shapes8)])


def _pictures(shapes8: Path) -> Hook:
    """The documented hook on 3 validation images, every 2 iterations, every detection drawn."""
    val = json.loads((shapes8 / "annotations" / "val.json").read_text())["images"][:3]
    return documented_hook()([str(shapes8 / im["file_name"]) for im in val], every=2, score_thr=0.0)


def test_train_model_returns_its_result_and_a_hook_sees_every_step_and_evaluation(straight) -> None:
    work, rec, result = straight
    assert (result.outcome, result.iteration, result.stopped_early) == ("finished", 4, False)
    assert result.final == work / "model_final.pth" and result.final.exists()
    assert result.best == work / "best.pth" and result.best.exists()
    assert set(result.metrics) >= {"bbox", "segm"} and result.config.data.class_names == ["circle", "triangle",
                                                                                           "rectangle"]  # fmt: skip
    steps = [p for p in rec.points if p[0] in ("before_step", "after_step")]
    assert steps == [(p, i + (p == "after_step")) for i in range(4) for p in ("before_step", "after_step")]
    evals = [p for p in rec.points if p[0] == "after_eval"]
    assert [p[1] for p in evals] == ["iter_2", "final"]
    assert evals[-1][2] == round(result.metrics["segm"]["AP"], 6)
    assert rec.points[0] == ("before_train", 0) and rec.points[-1] == ("after_train", "finished")
    # the user's scalar and picture reached metrics.jsonl (and TensorBoard when installed)
    log = read_metrics(work)
    assert [r["custom"]["steps_seen"] for r in log.other if "custom" in r] == [1.0, 2.0, 3.0, 4.0]
    assert [r["path"] for r in log.other if r.get("image") == "stripes"] == ["images/stripes/iter_00000002.png"]
    assert (work / "images" / "stripes" / "iter_00000002.png").stat().st_size > 50
    assert [r["iter"] for r in log.steps] == [1, 2, 3, 4] and [r["iter"] for r in log.evals] == [2, 4]
    if importlib.util.find_spec("tensorboard"):
        events = b"".join(p.read_bytes() for p in (work / "tb").glob("events*"))
        assert b"custom/steps_seen" in events and b"stripes" in events


def test_the_documented_hook_draws_a_row_of_validation_pictures_every_n_iterations(straight) -> None:
    work = straight[0]
    sheets = sorted((work / "images" / "val_predictions").glob("*.png"))
    assert [p.name for p in sheets] == ["iter_00000002.png", "iter_00000004.png"]
    first, last = (read_image(p) for p in sheets)
    assert first.shape == (128, 3 * 128, 3) and last.shape == (2 * 128, 3 * 128, 3)  # a row per call
    assert np.array_equal(last[:128], first)  # the first row stays as drawn


def test_resume_with_a_stateful_hook_is_bit_exact(straight, shapes8: Path, tmp_path: Path) -> None:
    work, _, _ = straight
    first = Recorder()
    paused = _train(shapes8, tmp_path, [first, _pictures(shapes8)], stop_at=2)
    assert (paused.outcome, paused.iteration, paused.final, paused.metrics) == ("paused", 2, None, {})
    assert first.points[-1] == ("after_train", "paused")
    state = torch.load(tmp_path / "iter_00000002.pth", weights_only=True)
    assert state["recorder"] == {"steps": 2} and len(state["val_pictures"]["rows"]) == 1
    second = Recorder()
    resumed = _train(shapes8, tmp_path, [second, _pictures(shapes8)], resume=True)
    assert resumed.outcome == "finished" and second.steps == 4  # its count went on from the checkpoint
    a, b = load_weights_file(work / "model_final.pth").state_dict, load_weights_file(resumed.final).state_dict
    assert all(torch.equal(a[k], b[k]) for k in a)
    sheet = "images/val_predictions/iter_00000004.png"  # its rows came back too: the same picture
    assert np.array_equal(read_image(tmp_path / sheet), read_image(work / sheet))
    assert [r["loss"] for r in read_metrics(tmp_path).steps] == [r["loss"] for r in read_metrics(work).steps]


class Boom(Hook):
    def after_step(self, trainer, batches) -> None:
        if trainer.iteration == 3:
            raise ValueError("the plot has no axes\n(second line)")


def test_a_raising_hook_is_one_line_naming_it_and_the_last_checkpoint_is_kept(shapes8: Path, tmp_path: Path) -> None:
    with pytest.raises(HookError) as info:
        gnrcnn.train_model(TINY, data_root=shapes8, ann=shapes8 / "annotations" / "train.json", work_dir=tmp_path,
                           callbacks=[Boom()], max_iters=4, device="cpu",
                           overrides=["train.checkpoint_every_iters=2"])  # fmt: skip
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("hook 'Boom' failed in after_step at iteration 3: ValueError: the plot has no axes "
                              "(second line); the last checkpoint, ")  # fmt: skip
    assert message.endswith("iter_00000002.pth, is kept: --resume continues from it")
    assert (tmp_path / "latest").read_text().strip() == "iter_00000002.pth"
    assert not (tmp_path / "iter_00000003.pth").exists() and not (tmp_path / "model_final.pth").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the signal hook still ended


def test_a_warmup_longer_than_the_run_and_steps_past_its_end_are_fitted_in_one_line_each() -> None:
    # docs/finetune.md's recipe on 4 images at 2 per iteration: 24 iterations, warm-up 100
    recipe = dataclasses.replace(TrainConfig(), epochs=12, lr_step_epochs=[8, 11], warmup_iters=100)
    s = make_schedule(recipe, iters_per_epoch=2, total_batch=2)
    assert (s.total_iters, s.warmup_iters, s.steps) == (24, 6, (16, 22))
    assert s.notes == ("note: a warm-up of 100 iterations is not shorter than the run's 24: capped at 6, a quarter "
                       "of the run (train.warmup_iters)",)  # fmt: skip
    assert s.lr(6) == pytest.approx(s.base_lr)
    # R-50's 2x schedule cut to 4 iterations (2 images, 1 per iteration): the warm-up was 42 of 4
    s = make_schedule(TrainConfig(), iters_per_epoch=2, total_batch=1, max_iters=4)
    assert (s.warmup_iters, s.steps) == (1, (3,)) and len(s.notes) == 2
    assert "lr steps at iterations [4]" in s.notes[1] and "would never apply" in s.notes[1]
    assert s.lr(1) == pytest.approx(s.base_lr) and s.lr(3) == pytest.approx(s.base_lr * 0.1)
    assert make_schedule(TrainConfig(), iters_per_epoch=100, total_batch=16).notes == ()  # the seed recipe fits


class Collect:
    """A writer of its own: what every writer is handed."""

    name = "collect"

    def __init__(self) -> None:
        self.events: list[Any] = []

    def open(self, start: int) -> None: ...

    def write(self, event: Any) -> None:
        self.events.append(event)

    def close(self, outcome: str) -> None:
        self.events.append(outcome)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def test_the_event_store_hands_a_users_scalar_and_picture_to_every_writer(tmp_path: Path) -> None:
    collect = Collect()
    store = EventStore(tmp_path, [JsonWriter(tmp_path), collect])
    store.open(0)
    store.iteration = 7
    store.put_scalar("mAP_small", 0.25, group="mine")
    path = store.put_image("view", torch.full((3, 4, 5), 200, dtype=torch.uint8))  # C x H x W works too
    store.close("finished")
    assert path == tmp_path / "images" / "view" / "iter_00000007.png" and path.exists()
    assert list(read_json_lines(tmp_path / "metrics.jsonl")) == [
        {"iter": 7, "mine": {"mAP_small": 0.25}},
        {"iter": 7, "image": "view", "path": "images/view/iter_00000007.png"},
    ]
    scalars, image, outcome = collect.events
    assert (scalars.group, scalars.values, image.pixels.shape, outcome) == ("mine", {"mAP_small": 0.25}, (4, 5, 3),
                                                                           "finished")  # fmt: skip
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        EventStore(tmp_path, [collect]).put_image("bad", np.zeros((4, 5), np.float32))
