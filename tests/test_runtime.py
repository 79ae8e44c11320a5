"""Process-wide choices: --amp auto, and whether training recomputes the backbone (a memory budget)."""

from __future__ import annotations

import copy

import pytest
import torch

import gnrcnn
from gnrcnn import build_model, load_config, runtime
from gnrcnn.train.memory_plan import plan

from conftest import TINY


def test_amp_auto_picks_a_precision_and_says_why() -> None:
    assert runtime.resolve_amp(torch.device("cpu"), "bf16") == ("bf16", "")
    assert runtime.resolve_amp(torch.device("cpu"), None) == (None, "")
    choice, why = runtime.resolve_amp(torch.device("cpu"), "auto")
    assert choice in (None, "bf16") and why.startswith("--amp auto: ") and " ms in fp32" in why
    assert runtime.resolve_amp(torch.device("cpu"), "auto") == (choice, why)  # measured once per process


def test_load_model_takes_amp_auto_as_the_cli_does(capsys) -> None:
    """``gnrcnn.load_model(..., amp="auto")`` resolves it below the CLI: the same choice as ``--amp auto``."""
    choice, why = runtime.resolve_amp(torch.device("cpu"), "auto")
    detector = gnrcnn.load_model(str(TINY), "none", amp="auto")
    assert detector.amp == choice and why in capsys.readouterr().err
    image = torch.randint(0, 255, (3, 40, 48), dtype=torch.uint8)
    assert len(detector.predict(image)) == 1


def test_recompute_follows_the_budget_and_leaves_model_and_rng_alone() -> None:
    cfg = load_config(str(TINY), ["train.images_per_gpu=2"])
    model = build_model(cfg).train()
    before = copy.deepcopy(model.state_dict())
    rng = torch.get_rng_state()
    tight = plan(model, load_config(str(TINY), ["train.memory_budget_gb=0.01"]), torch.device("cpu"), None)
    ample = plan(model, load_config(str(TINY), ["train.memory_budget_gb=1000"]), torch.device("cpu"), None)
    assert tight.recompute and not ample.recompute
    assert "exceeds the 0.0 GB budget" in tight.reason and "fits the 1000.0 GB budget" in ample.reason
    # recomputation keeps less for backward; both estimates include what the process holds
    assert runtime.current_rss_gb() * 0.5 < ample.estimate_recompute_gb < ample.estimate_gb
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert not model.backbone.checkpoint_blocks
    forced = plan(model, load_config(str(TINY), ["train.recompute_backbone=always"]), torch.device("cpu"), None)
    assert forced.recompute and forced.reason == "train.recompute_backbone=always"
    # above the smaller probe (256 px) the estimate is extrapolated from the two probes: larger images, more
    big = plan(model, load_config(str(TINY), ["train.memory_budget_gb=1000", "input.short=320", "input.long=320"]),
               torch.device("cpu"), None)  # fmt: skip
    assert ample.estimate_gb < big.estimate_gb and big.estimate_recompute_gb < big.estimate_gb
    assert torch.equal(torch.get_rng_state(), rng)


def test_bf16_inference_runs_nhwc_on_its_own_copy() -> None:
    """bf16 inference takes the seed's "heads" layout as "all" (oneDNN's bf16 convolutions would reorder
    NCHW maps at every call), on the detector's own copy: the lent model keeps its layout and dtype."""
    from gnrcnn.predict.detector import Detector

    cfg = load_config(str(TINY))
    assert cfg.model.channels_last == "heads"
    model = build_model(cfg)
    conv = model.backbone.conv1.weight
    det = Detector(cfg, model, device="cpu", amp="bf16")
    own = det.model.backbone.conv1.weight
    assert own.dtype == torch.bfloat16 and own.is_contiguous(memory_format=torch.channels_last)
    assert det.model.memory_format == torch.channels_last and det.model is not model
    assert conv.dtype == torch.float32 and model.memory_format == torch.contiguous_format
    assert len(det.predict(torch.zeros(3, 96, 128, dtype=torch.uint8))) == 1
    none = Detector(load_config(str(TINY), ["model.channels_last=none"]), model, device="cpu", amp="bf16")
    assert none.model.memory_format == torch.contiguous_format  # an explicit "none" is kept


_CORES_GO_IN_THE_WRONG_ORDER = """
import gc, os, signal, sys, time
import numpy as np
import openvino as ov
import openvino.opset13 as ops
from gnrcnn import runtime

x = ops.parameter([1, 3, 8, 8], np.float32)
model = ov.Model([ops.relu(x)], [x])
runtime.openvino_core().compile_model(model, "CPU")
with (runtime.signal_stack_kept() if sys.argv[1] == "kept" else runtime.contextlib.nullcontext()):
    a = ov.Core(); ca = a.compile_model(model, "CPU")  # as NNCF does: Cores of its own ...
    b = ov.Core(); cb = b.compile_model(model, "CPU")
    del ca, a; gc.collect(); del cb, b; gc.collect()  # ... going in the order they came
signal.signal(signal.SIGTERM, lambda *_: print("handled", flush=True))
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(0.1)
"""


def test_openvino_cores_going_in_the_order_they_came_crash_the_next_signal_unless_the_stack_is_kept() -> None:
    """The cause of the OpenVINO-then-signal SIGSEGV, in small: each Core's CPU plugin puts back the signal
    stack it found when it goes; two going first-in first-out leave the thread on an unmapped stack."""
    import subprocess
    import sys

    pytest.importorskip("openvino")
    run = [subprocess.run([sys.executable, "-c", _CORES_GO_IN_THE_WRONG_ORDER, how], capture_output=True, text=True,
                          timeout=120) for how in ("bare", "kept")]  # fmt: skip
    assert run[0].returncode == -11, run[0]  # SIGSEGV in the signal handler's frame
    assert run[1].returncode == 0 and "handled" in run[1].stdout, run[1].stderr[-2000:]
