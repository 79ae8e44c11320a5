"""The allocator setting: large freed blocks stay in the process, so they are not faulted in again."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

SCRIPT = """
import os, resource, sys
import torch
from gnrcnn import keep_freed_memory
print(keep_freed_memory())
faults = []
for _ in range(20):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.empty(64 * 2**20 // 4)  # 64 MB: above glibc's default mmap threshold
    x.fill_(1.0)
    del x
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(sum(faults[10:]))  # the steady state: the heap may still grow during the first rounds
"""


def run(env_value: str | None) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k != "GNRCNN_MALLOC"}
    if env_value:
        env["GNRCNN_MALLOC"] = env_value
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, env=env)
    flag, faults = out.stdout.split()
    return flag, int(faults)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_freed_blocks_are_reused_instead_of_faulted_in_again() -> None:
    kept, kept_faults = run(None)
    system, system_faults = run("system")
    assert (kept, system) == ("True", "False")
    # 64 MB = 16384 pages of 4 KB faulted in every round with glibc's defaults; kept, they are reused
    # once the heap has grown to hold them.
    assert system_faults > 9 * 16384
    assert kept_faults < 16384


API_SCRIPT = """
import sys
import gnrcnn
from gnrcnn import runtime
gnrcnn.load_model(sys.argv[1], weights="none", **({"malloc": sys.argv[2]} if len(sys.argv) > 2 else {}))
print(runtime._allocator_set)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
@pytest.mark.parametrize(("env_value", "argument", "kept"), [
    (None, None, "True"), ("system", None, "False"), (None, "system", "False"), (None, "keep", "True"),
])  # fmt: skip
def test_load_model_keeps_freed_memory_as_the_command_does_unless_told_not_to(env_value, argument, kept) -> None:
    from conftest import TINY

    env = {k: v for k, v in os.environ.items() if k != "GNRCNN_MALLOC"}
    if env_value:
        env["GNRCNN_MALLOC"] = env_value
    cmd = [sys.executable, "-c", API_SCRIPT, str(TINY), *([argument] if argument else [])]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split()[-1] == kept


def test_an_unknown_malloc_choice_is_one_line() -> None:
    from gnrcnn import GnrcnnError, load_model

    with pytest.raises(GnrcnnError, match="choose 'keep'"):
        load_model("tiny.yaml", weights="none", malloc="jemalloc")


CLI_SCRIPT = """
import sys
from unittest import mock
from gnrcnn import cli, runtime
args = cli.build_parser().parse_args(sys.argv[1:])
args.func = lambda a: 0  # the command's own work is not the point: only main's allocator choice before it
with mock.patch.object(cli, "build_parser", return_value=mock.Mock(parse_args=lambda argv: args)):
    cli.main(sys.argv[1:])
print(runtime._allocator_set)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
@pytest.mark.parametrize(("argv", "kept"), [
    (["predict", "x.png", "--out", "o"], "True"), (["study", "active-learning", "--quick"], "False"),
])  # fmt: skip
def test_a_study_gives_freed_memory_back_and_a_single_command_keeps_it(argv: list[str], kept: str) -> None:
    """A study trains many models in one process: kept freed memory would pile up run after run."""
    env = {k: v for k, v in os.environ.items() if k != "GNRCNN_MALLOC"}
    out = subprocess.run([sys.executable, "-c", CLI_SCRIPT, *argv], capture_output=True, text=True, check=True,
                         env=env)  # fmt: skip
    assert out.stdout.split()[-1] == kept
