"""Keep freed tensor memory in the process instead of handing it back to the kernel (glibc only).

PyTorch's CPU tensors come from glibc malloc, which serves every block above its mmap threshold
(at most 32 MB) with a fresh ``mmap`` and unmaps it on free. A detector at 800x1333 allocates and
frees hundreds of such feature maps per image, so each one is page-faulted in again, zero-filled
by the kernel: measured on one 2-core VM, R-50 inference spent 12 s of system time per 7 images
and ran at 5.3 s/img; with freed blocks kept in the heap it ran at 3.4 s/img (docs/benchmarks.md).
Intel's PyTorch tuning guide reaches the same end with jemalloc or tcmalloc; this needs neither.

The cost is memory: what is freed stays with the process, and blocks of different sizes fragment
the heap, so the peak grows a little in inference (R-50: 1.77 -> 1.88 GB) and by 25-33% in CPU
training (R-50: 3.80 -> 4.68 GB). Set ``GNRCNN_MALLOC=system`` to keep glibc's defaults.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (once); True if they were set."""
    global _done
    if _done:
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
    _done = mapped and bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    return _done
