"""The practitioner's path as docs/finetune.md writes it: its schedule flags do what the page says on any config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from gnrcnn import GnrcnnError, load_config
from gnrcnn.cli import main

from conftest import DOCS

FINETUNE_MD = DOCS / "finetune.md"


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
    # 8 images at 2 per iteration: 4 per epoch, 12 epochs, lr x0.1 after epochs 8 and 11; the page's warm-up of
    # 100 is longer than these 48 iterations: capped at a quarter of the run, with one line
    assert "48 iterations (4/epoch)" in out and "(warm-up 12, steps at [32, 44])" in out, out
    assert "note: a warm-up of 100 iterations is not shorter than the run's 48: capped at 12" in out, out


def test_half_an_epoch_schedule_over_an_iteration_schedule_is_refused() -> None:
    with pytest.raises(GnrcnnError, match=r"schedules by iterations \(train.iters=450.*give both"):
        load_config("shapes-demo_r18_fpn_gn-all", ["train.epochs=8"])
    with pytest.raises(GnrcnnError, match="set one schedule, not both"):
        load_config("shapes-demo_r18_fpn_gn-all", ["train.epochs=8", "train.lr_step_epochs=[6,7]", "train.iters=9"])
    cfg = load_config("shapes-demo_r18_fpn_gn-all", ["train.epochs=8", "train.lr_step_epochs=[6,7]"])
    assert (cfg.train.iters, cfg.train.lr_step_iters, cfg.train.epochs, cfg.train.lr_step_epochs) == (0, [], 8, [6, 7])
    cfg = load_config("shapes-demo_r18_fpn_gn-all", ["train.iters=90", "train.lr_step_iters=[80]"])  # unchanged
    assert (cfg.train.iters, cfg.train.lr_step_iters) == (90, [80])


def test_progress_in_a_log_is_whole_lines_each_bar_ending_once(monkeypatch) -> None:
    """Not a terminal (CI, tee, nohup): no carriage returns or escape codes, nothing before the first interval,
    a line per interval, one final line, and messages written around the bar stay in order."""
    import io

    from tqdm import tqdm

    from gnrcnn.progress import LineProgress, progress

    log = io.StringIO()
    monkeypatch.setenv("GNRCNN_PROGRESS_EVERY", "3600")
    bar = progress(total=4, desc="train", unit="it", file=log, dynamic_ncols=True)
    assert isinstance(bar, LineProgress)
    tqdm.write("header", file=log)
    for i in range(4):
        bar.update(1)
        bar.set_postfix(loss=f"{1 / (i + 1):.2f}", refresh=False)
    bar.close()
    bar.close()
    assert log.getvalue().startswith("header\ntrain: 100% 4/4 [") and log.getvalue().count("\n") == 2
    assert "loss=0.25" in log.getvalue() and "\r" not in log.getvalue() and "\x1b" not in log.getvalue()

    log = io.StringIO()
    monkeypatch.setenv("GNRCNN_PROGRESS_EVERY", "0")  # a line at the start and every update, the end's once
    assert list(progress(range(3), desc="decode", file=log, leave=False)) == [0, 1, 2]
    lines = log.getvalue().splitlines()
    assert [ln.split(" [")[0] for ln in lines] == ["decode:   0% 0/3", "decode:  33% 1/3", "decode:  67% 2/3",
                                                   "decode: 100% 3/3"]  # fmt: skip


def test_progress_on_a_terminal_is_tqdm() -> None:
    import io

    from tqdm import tqdm

    from gnrcnn.progress import LineProgress, progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    bar = progress(total=2, file=Terminal())
    assert type(bar) is tqdm and not isinstance(bar, LineProgress)
    bar.close()


def test_help_and_zoo_answer_without_importing_torch() -> None:
    """torch + torchvision take seconds to import: --help, every command's --help and zoo never do."""
    import subprocess
    import sys

    from gnrcnn.cli import build_parser

    commands = sorted(build_parser()._subparsers._group_actions[0].choices)  # every registered command
    script = ("import sys, contextlib, io\nfrom gnrcnn.cli import main\n"
              f"for argv in [['--help'], ['zoo'], *[[c, '--help'] for c in {commands!r}]]:\n"
              "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
              "        main(argv)\n"
              "loaded = sorted(m for m in ('torch', 'torchvision', 'cv2', 'numpy') if m in sys.modules)\n"
              "print(loaded)\n")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", out.stdout


def test_zoo_lists_every_bundled_config_in_100_columns(capsys) -> None:
    from gnrcnn.config.loader import available_configs

    assert main(["zoo"]) == 0
    out = capsys.readouterr().out
    assert max(map(len, out.splitlines())) <= 100
    assert all(name in out for name in available_configs()) and "shapes-demo_r18_fpn_gn-all" in out
    assert main(["zoo", "--wide"]) == 0
    assert "https://" in capsys.readouterr().out


def test_load_model_takes_a_checkpoint_path_as_weights_does(tiny_trained: Path) -> None:
    import gnrcnn

    by_path = gnrcnn.load_model(str(tiny_trained))  # the config travels inside the checkpoint
    by_weights = gnrcnn.load_model(weights=tiny_trained)
    assert by_path.cfg == by_weights.cfg and by_path.class_names == ["circle", "triangle", "rectangle"]
    for k, v in by_weights.model.state_dict().items():
        assert torch.equal(by_path.model.state_dict()[k], v), k
    with pytest.raises(GnrcnnError, match="unknown config name 'no-such-config'"):
        gnrcnn.load_model("no-such-config")


def test_sigterm_keeps_the_work_and_resume_ends_where_an_uninterrupted_run_does(shapes8: Path, tmp_path: Path) -> None:
    """SIGTERM at iteration 3 of 6: the step finishes, a checkpoint is written, the run says how to go on;
    --resume then gives bit for bit the weights of a run that was never stopped."""
    import os
    import signal

    from gnrcnn.train.interrupt import TrainingInterruptedError
    from gnrcnn.train.trainer import TrainArgs, Trainer
    from gnrcnn.weights import load_weights_file

    from conftest import TINY

    # 64 px and no memory probe (its four forwards at 256-512 px): seconds less per run, the same checks
    over = ["input.short=64", "input.long=64", "train.recompute_backbone=never"]

    def args(work: Path, resume: bool = False) -> TrainArgs:
        return TrainArgs(data_root=str(shapes8), ann=str(shapes8 / "annotations" / "train.json"), work_dir=str(work),
                         max_iters=6, resume=resume)  # fmt: skip

    def term_at_3(trainer: Trainer, batches: list) -> None:
        if trainer.iteration == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    Trainer(load_config(str(TINY), over), args(tmp_path / "straight")).train()
    with pytest.raises(
        TrainingInterruptedError,
        match=r"stopped by SIGTERM after iteration 3 of 6; checkpoint .*"
        r"iter_00000003.pth: run the same command with --resume",
    ):
        Trainer(load_config(str(TINY), over), args(tmp_path / "stopped"), hooks=[term_at_3]).train()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler goes with the run
    assert not (tmp_path / "stopped" / "model_final.pth").exists()
    Trainer(load_config(str(TINY), over), args(tmp_path / "stopped", resume=True)).train()
    a = load_weights_file(tmp_path / "straight" / "model_final.pth").state_dict
    b = load_weights_file(tmp_path / "stopped" / "model_final.pth").state_dict
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_command_exits_143_on_sigterm_and_names_the_file_to_ship(shapes8: Path, tmp_path: Path) -> None:
    """A real SIGTERM from outside (as a scheduler sends it) to `gnrcnn train`, then --resume to the end. The
    command runs in a process of its own, forked with the imports done (tests/forked.py); a fresh interpreter
    with OpenVINO loaded first gets the same signal in tests/export/test_openvino.py."""
    import json
    import signal
    import time

    from forked import Forked, run

    from conftest import TINY

    # SIGTERM after 2 logged iterations of 16: room for a loaded machine's late signal; no memory probe (its
    # forwards at 256-512 px cost seconds and are not what this test is about)
    work, iters = tmp_path / "w", 16
    argv = ["train", "--config", str(TINY), "--data-root", str(shapes8), "--ann",
            str(shapes8 / "annotations" / "train.json"), "--work-dir", str(work), "--max-iters", str(iters),
            "--device", "cpu", "--set", "train.recompute_backbone=never"]  # fmt: skip
    proc = Forked(argv, tmp_path / "stopped.log")
    log, deadline = work / "metrics.jsonl", time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and sum("loss" in line for line in log.read_text().splitlines()) >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    code, err = proc.wait(timeout=300), proc.output()
    assert code == 128 + signal.SIGTERM, err[-2000:]
    line = [ln for ln in err.splitlines() if "stopped by SIGTERM" in ln]
    assert len(line) == 1 and "run the same command with --resume" in line[0], err[-2000:]
    done = [json.loads(ln)["iter"] for ln in log.read_text().splitlines() if "loss" in ln]
    assert 2 <= done[-1] < iters and (work / f"iter_{done[-1]:08d}.pth").exists()
    code, out = run([*argv, "--resume"], tmp_path / "resumed.log")
    assert code == 0, out[-2000:]
    assert f"resumed from {work / f'iter_{done[-1]:08d}.pth'} at iteration {done[-1]}" in out
    assert "model_final.pth" in out and "<- ship this one" in out, out[-2000:]


def test_the_end_of_training_names_best_pth_to_ship_when_validation_kept_one(tmp_path: Path) -> None:
    import json

    from gnrcnn.train.summary import ship_note

    cfg = load_config("shapes-demo_r18_fpn_gn-all", ["train.eval_every_iters=100"])
    final = {"bbox": {"AP": 0.61}, "segm": {"AP": 0.598}}
    (tmp_path / "best.json").write_text(json.dumps({"iteration": 300, "best_metric": "segm.AP", "best": 0.608}))
    note = ship_note(tmp_path, cfg, final, 450, 23).splitlines()
    assert note[1].split() == ["best.pth", "segm.AP", "0.6080", "at", "iteration", "300:", "evaluated", "in",
                               f"{tmp_path}/eval/iter_300/", "<-", "ship", "this", "one"]  # fmt: skip
    assert note[2].startswith("  model_final.pth  segm.AP 0.5980 at iteration 450: evaluated in")
    assert "ship" not in note[2]
    (tmp_path / "best.json").unlink()
    assert ship_note(tmp_path, cfg, final, 450, 23).splitlines()[1].endswith("<- ship this one")
