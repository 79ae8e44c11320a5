"""The ``gnrcnn`` command's parsing: every command answers ``--help``, an unknown command or flag is one line, and
the commands that only print tables never import torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gnrcnn.cli import build_parser, main

COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


def test_every_command_is_listed_and_answers_help(capsys: pytest.CaptureFixture) -> None:
    assert {"predict", "eval", "train", "export", "serve", "zoo", "import-data", "analyze", "bench"} <= set(COMMANDS)
    for command in COMMANDS:
        with pytest.raises(SystemExit) as e:
            main([command, "--help"])
        assert e.value.code == 0, command
        assert f"usage: gnrcnn {command}" in capsys.readouterr().out


def test_unknown_command_or_flag_is_one_usage_line() -> None:
    for argv in (["no-such-command"], ["zoo", "--no-such-flag"]):
        run = subprocess.run([sys.executable, "-m", "gnrcnn", *argv], capture_output=True, text=True, timeout=60)
        assert run.returncode == 2
        assert "Traceback" not in run.stderr
        assert run.stderr.strip().splitlines()[-1].startswith("gnrcnn")


def test_zoo_prints_its_table_without_importing_torch() -> None:
    code = "import sys; from gnrcnn.cli import main; main(['zoo']); assert 'torch' not in sys.modules"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "mask-rcnn_r50_fpn_gn-all_2x_coco" in run.stdout


def test_a_closed_output_pipe_ends_the_command_quietly() -> None:
    """`gnrcnn zoo | head -1`: the reader goes away; no BrokenPipeError traceback, the status a shell gives."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "gnrcnn", "zoo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command writes: every write of it meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == "", err
