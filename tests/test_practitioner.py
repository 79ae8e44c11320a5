"""The practitioner's path as docs/finetune.md writes it: its schedule flags do what the page says on any config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gnrcnn import GnrcnnError, load_config
from gnrcnn.cli import main

FINETUNE_MD = Path(__file__).parent.parent / "docs" / "finetune.md"


def documented_schedule_flags() -> list[str]:
    """The ``--set train.*`` flags of the recipe at the top of docs/finetune.md, as a shell would pass them."""
    recipe = FINETUNE_MD.read_text().split("```sh", 1)[1].split("```", 1)[0]
    return [m.group(1) or m.group(2) for m in re.finditer(r'--set (?:"([^"]+)"|(\S+))', recipe)]


def test_the_documented_recipe_schedules_by_epochs_on_the_demo_config(shapes8: Path, tmp_path: Path, capsys) -> None:
    """The demo config schedules by iterations (train.iters: 450); the page's epoch flags must win, not vanish."""
    flags = documented_schedule_flags()
    assert flags == ["train.epochs=12", "train.lr_step_epochs=[8,11]", "train.warmup_iters=100"]
    args = ["train", "--config", "shapes-demo_r18_fpn_gn-all", "--data-root", str(shapes8),
            "--ann", str(shapes8 / "annotations" / "train.json"), "--work-dir", str(tmp_path / "w"),
            "--batch-size", "2", "--scale", "128", "128", "--stop-at", "1"]  # fmt: skip
    for flag in flags:
        args += ["--set", flag]
    assert main(args) == 0
    out = capsys.readouterr().out
    # 8 images at 2 per iteration: 4 per epoch, 12 epochs, lr x0.1 after epochs 8 and 11
    assert "48 iterations (4/epoch)" in out and "(warm-up 100, steps at [32, 44])" in out, out


def test_half_an_epoch_schedule_over_an_iteration_schedule_is_refused() -> None:
    with pytest.raises(GnrcnnError, match=r"schedules by iterations \(train.iters=450.*give both"):
        load_config("shapes-demo_r18_fpn_gn-all", ["train.epochs=8"])
    with pytest.raises(GnrcnnError, match="set one schedule, not both"):
        load_config("shapes-demo_r18_fpn_gn-all", ["train.epochs=8", "train.lr_step_epochs=[6,7]", "train.iters=9"])
    cfg = load_config("shapes-demo_r18_fpn_gn-all", ["train.epochs=8", "train.lr_step_epochs=[6,7]"])
    assert (cfg.train.iters, cfg.train.lr_step_iters, cfg.train.epochs, cfg.train.lr_step_epochs) == (0, [], 8, [6, 7])
    cfg = load_config("shapes-demo_r18_fpn_gn-all", ["train.iters=90", "train.lr_step_iters=[80]"])  # unchanged
    assert (cfg.train.iters, cfg.train.lr_step_iters) == (90, [80])
