"""torchrun's elastic restarts: a fresh process group per attempt, an automatic resume, a bounded wait.

Why a store prefix: torchrun's agent keeps one TCPStore for the whole job (with ``--master-port`` and
with the c10d rendezvous alike), and the workers of a restarted group found the previous attempt's
keys in it (the gloo/NCCL addresses of ranks that no longer exist): they connected to dead ports, or
waited on them forever. Each attempt now joins under a prefix of its own: ``TORCHELASTIC_RESTART_COUNT``
when one agent runs every worker (``GROUP_WORLD_SIZE`` 1); across machines each agent counts only its
own restarts, so there each rank counts its joins in the store (rank r's n-th join is attempt n).

After a restart (an attempt after the first, counted as above) training resumes from the work folder's latest
checkpoint without ``--resume``. A collective that does not complete within ``train.dist_timeout_s``
(a rank hung or gone) raises on the ranks waiting for it, and the job ends with one line saying so.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta

import torch.distributed as dist

from ..errors import GnrcnnError

_ATTEMPT = [0]  # of this process's group: 0 the first, set when it joins (``init_process_group``)


def restart_count() -> int:
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)


def resume_request(resume: bool | str, main: bool) -> bool | str:
    """``--resume`` as given, or True in a group that torchrun restarted (every rank decides alike)."""
    if resume or _ATTEMPT[0] == 0:
        return resume
    if main:
        print(f"torchrun restart {_ATTEMPT[0]}: resuming from the latest checkpoint", file=sys.stderr)
    return True


def init_process_group(backend: str, timeout_s: float) -> None:
    """``dist.init_process_group`` with ``timeout_s`` on every collective and, under torchrun, a store
    prefix of its own per attempt (see the module's docstring)."""
    timeout = timedelta(seconds=timeout_s)
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        dist.init_process_group(backend, timeout=timeout)
        return
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world, is_master=False,
                          timeout=timeout)  # fmt: skip
    if os.environ.get("GROUP_WORLD_SIZE", "1") == "1":
        attempt = restart_count()
    else:  # agents count their own restarts: each rank counts its joins in the store instead
        attempt = store.add(f"gnrcnn/joins/rank{rank}", 1) - 1
    _ATTEMPT[0] = attempt
    prefixed = dist.PrefixStore(f"gnrcnn/attempt{attempt}", store)
    dist.init_process_group(backend, store=prefixed, rank=rank, world_size=world, timeout=timeout)


def is_collective_failure(e: BaseException) -> bool:
    text = str(e)
    return dist.is_initialized() and isinstance(e, RuntimeError) and any(
        s in text for s in ("Timed out", "timed out", "Connection closed by peer", "Connection reset by peer",
                            "Watchdog caught collective operation timeout")
    )  # fmt: skip


def explained(e: RuntimeError, timeout_s: float) -> Exception:
    """A clear one-line error in place of a backend's timeout or lost-peer error; any other error as it is."""
    if not is_collective_failure(e):
        return e
    return GnrcnnError(
        f"rank {dist.get_rank()} of {dist.get_world_size()}: a collective operation did not complete within "
        f"train.dist_timeout_s={timeout_s:g} s or lost a peer (another rank hung or died); ending the job "
        f"({str(e).splitlines()[0][:160]})"
    )
