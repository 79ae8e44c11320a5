"""Everything process- or device-wide, in one place: the allocator, TF32, autocast, the bf16 weight
cast, the RoIAlign thread pool, the video decoder's log level, the MLflow client's
patience, the one OpenVINO Core and peak-memory readings.

A function that changes the model it is handed says so in its name (``..._in_place``); the caller
owns that model.

Allocator. PyTorch's CPU tensors come from glibc malloc, which serves every block above its mmap
threshold (at most 32 MB) with a fresh ``mmap`` and unmaps it on free. A detector at 800x1333
allocates and frees hundreds of such feature maps per image, so each one is page-faulted in again,
zero-filled by the kernel: measured on one 2-core VM, R-50 inference spent 12 s of system time per
7 images and ran at 5.3 s/img; with freed blocks kept in the heap it ran at 3.4 s/img
(docs/benchmarks.md). Intel's PyTorch tuning guide reaches the same end with jemalloc or tcmalloc;
this needs neither. The cost is memory: what is freed stays with the process, so the peak grows a
little in inference (R-50: 1.77 -> 1.88 GB) and by 25-33% in CPU training (R-50: 3.80 -> 4.68 GB).
``GNRCNN_MALLOC=system`` keeps glibc's defaults.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch import nn

from .errors import GnrcnnError

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_allocator_set = False
_pool: ThreadPoolExecutor | None = None


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (once); True if they were set."""
    global _allocator_set
    if _allocator_set:
        return True
    if os.environ.get("GNRCNN_MALLOC", "").lower() == "system" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc: leave it alone
        return False
    # 1 GiB: above any single feature map of these models (older glibc caps the threshold at 32 MB,
    # which still covers most of them). The trim threshold stops the heap from being shrunk, and
    # faulted in again, after each image.
    mapped = bool(mallopt(_M_MMAP_THRESHOLD, 1 << 30)) or bool(mallopt(_M_MMAP_THRESHOLD, 1 << 25))
    _allocator_set = mapped and bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    return _allocator_set


def apply_malloc(choice: str | None) -> bool:
    """``load_model``'s allocator choice: ``"keep"`` or None runs ``keep_freed_memory`` (which
    ``GNRCNN_MALLOC=system`` still turns off), ``"system"`` leaves glibc's defaults; True if freed
    memory is kept."""
    if choice not in (None, "keep", "system"):
        raise GnrcnnError(f"malloc={choice!r}: choose 'keep' (freed memory stays in the process) or 'system'")
    return choice != "system" and keep_freed_memory()


def set_tf32(enabled: bool) -> None:
    """TF32 for CUDA convolutions and matmuls (process-wide). Off means fp32 is fp32: TF32 (PyTorch's
    default for cuDNN) changes results at 1e-3."""
    torch.backends.cudnn.allow_tf32 = enabled
    torch.backends.cuda.matmul.allow_tf32 = enabled


def check_amp(device: torch.device, amp: str | None) -> None:
    if amp not in (None, *AMP_DTYPES):
        raise GnrcnnError(f"unknown precision '{amp}' (choose bf16 or fp16, or none for fp32)")
    if amp == "fp16" and device.type != "cuda":
        raise GnrcnnError("--amp fp16 needs a CUDA device; use --amp bf16 on the CPU")


_amp_choice: dict[str, tuple[str | None, str]] = {}


def _conv_seconds(dtype: torch.dtype | None, reps: int = 3) -> float:
    """Best-of-``reps`` time of a 3x3 convolution shaped like a P3 map of an 800x1333 image."""
    x = torch.randn(1, 256, 100, 168).contiguous(memory_format=torch.channels_last)
    conv = nn.Conv2d(256, 256, 3, padding=1, bias=False).to(memory_format=torch.channels_last)
    best = float("inf")
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        conv(x)  # first call: oneDNN builds its kernel
        for _ in range(reps):
            t = time.perf_counter()
            conv(x)
            best = min(best, time.perf_counter() - t)
    return best


def resolve_amp(device: torch.device, amp: str | None) -> tuple[str | None, str]:
    """``auto`` -> a precision for this device, with the reason: bf16 (or fp16 without bf16) on CUDA; on
    the CPU bf16 only where its convolutions are measurably faster (>= 15%) than fp32 here, since
    CPUs without fast bf16 units run it slower. Other values pass through."""
    if amp != "auto":
        return amp, ""
    if device.type == "cuda":
        choice = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return choice, f"--amp auto: {choice} on {torch.cuda.get_device_name(device)}"
    if "cpu" not in _amp_choice:
        fp32, bf16 = _conv_seconds(None), _conv_seconds(torch.bfloat16)
        faster = bf16 < 0.87 * fp32
        _amp_choice["cpu"] = (
            "bf16" if faster else None,
            f"--amp auto: {'bf16' if faster else 'fp32'} (a 3x3 "
            f"convolution takes {bf16 * 1e3:.1f} ms in bf16, {fp32 * 1e3:.1f} ms in fp32 here)",
        )
    return _amp_choice["cpu"]


def pyplot() -> Any | None:
    """matplotlib's pyplot on the file-only Agg backend (a process-wide choice), or None without
    matplotlib (the ``plot`` extra): the one import guard of every picture gnrcnn plots."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def choose_amp(device: torch.device, amp: str | None) -> str | None:
    """``amp`` with ``auto`` resolved for ``device`` (``resolve_amp``), the choice said on stderr: what
    ``--amp auto``, ``load_model(..., amp="auto")``, ``Detector`` and ``Trainer`` all do."""
    choice, why = resolve_amp(device, amp)
    if why:
        print(why, file=sys.stderr)
    check_amp(device, choice)
    return choice


def autocast(device: torch.device, amp: str | None) -> contextlib.AbstractContextManager[Any]:
    """bf16/fp16 autocast for convolutions and matmuls (GroupNorm keeps fp32 statistics itself)."""
    check_amp(device, amp)
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AMP_DTYPES[amp])


def cast_to_bf16_in_place(model: nn.Module) -> None:
    """Convolution and linear weights to bf16 (norms keep fp32 weights), so that bf16 inference does
    not cast every weight at every call."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            m.to(torch.bfloat16)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in inference mode inside the block; every submodule's training flag restored after."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in flags:
            m.training = training


def thread_pool() -> ThreadPoolExecutor:
    """The process's pool for CPU ops that release the GIL but run single-threaded (RoIAlign)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=max(2, torch.get_num_threads()), thread_name_prefix="gnrcnn")
    return _pool


_openvino_core: Any = None


def openvino_core() -> Any:
    """The process's one ``openvino.Core``, which lives as long as the process: every read, compile and
    property query of gnrcnn goes through it.

    Why one. The Core's CPU plugin, when it loads, gives the thread that loads it an alternate signal stack
    of its own (``mmap``, OpenVINO's ``SigAltStackSetup``), remembering the stack it found; when the plugin
    goes, it puts the remembered stack back and unmaps its own. That is right only if plugins go in the
    reverse order of their coming. A Core per call, freed whenever garbage collection gets to it, breaks
    that order: the second plugin to go puts back the first one's stack, already unmapped, and the next
    signal handled on that thread runs its handler there (CPython installs its handlers with SA_ONSTACK):
    SIGTERM during training after an INT8 export ended the process in SIGSEGV
    (tests/scripts/openvino_then_sigterm.py). One Core, whose plugin is loaded here and never unloaded,
    leaves no stack to dangle."""
    global _openvino_core
    if _openvino_core is None:
        import openvino as ov

        core = ov.Core()
        core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")  # loads the CPU plugin now, once
        _openvino_core = core
    return _openvino_core


class _SignalStack(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


@contextlib.contextmanager
def signal_stack_kept() -> Iterator[None]:
    """The calling thread's alternate signal stack as it was before the block, whatever the block's
    libraries did to it: NNCF makes OpenVINO Cores of its own while it quantizes, and the order they go in
    is not ours to choose (see ``openvino_core``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    before = _SignalStack()
    libc.sigaltstack(None, ctypes.byref(before))
    try:
        yield
    finally:
        import gc

        gc.collect()  # the block's Cores go now, while the stack they may put back is replaced below
        libc.sigaltstack(ctypes.byref(before), None)


def quiet_video_decoder() -> None:
    """FFmpeg inside OpenCV prints its own lines about a damaged frame or file; gnrcnn reports those
    as one line itself. OpenCV reads the level once, when the process first opens a video (so every
    video function of gnrcnn calls this first); ``OPENCV_FFMPEG_LOGLEVEL`` set by the user wins."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


def mlflow_patience() -> None:
    """MLflow's client retries a failed call 7 times over about 4 minutes and waits 120 s for an answer;
    a training run that logs to it must not stall that long on a server that is down. Each call here
    gets 2 retries (1 s, 2 s apart) and 30 s, and MLflow prints no run links of its own (the trainer
    names the run once). The user's own ``MLFLOW_HTTP_REQUEST_*`` settings win."""
    for name, value in (
        ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"),
        ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
        ("MLFLOW_HTTP_REQUEST_TIMEOUT", "30"),
        ("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true"),
    ):
        os.environ.setdefault(name, value)


def peak_rss_gb() -> float:
    """This process's peak resident memory. Linux's VmHWM, which starts afresh at exec; getrusage's
    ru_maxrss keeps the parent's peak across fork + exec, so a child started by a large process
    would report the parent's."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _proc_kb(path: str, key: str) -> float | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def current_rss_gb() -> float:
    """This process's resident memory now (Linux; 0 where /proc is missing)."""
    return (_proc_kb("/proc/self/status", "VmRSS:") or 0.0) / 2**20


def available_memory_gb() -> float:
    """Memory the system can give without swapping (MemAvailable; Linux), or physical memory elsewhere."""
    kb = _proc_kb("/proc/meminfo", "MemAvailable:")
    if kb is not None:
        return kb / 2**20
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def peak_memory_gb(device: torch.device) -> float:
    """Peak memory of ``device``: CUDA's allocated peak, or the process's peak RSS on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return peak_rss_gb()
