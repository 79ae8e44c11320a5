"""Time from ``gnrcnn train`` starting to its first logged iteration, and each process's memory meanwhile.

    python benchmarks/first_iteration.py --ann coco_118287.json --data-root IMAGES [--ranks 2]
        [--config tests/assets/tiny.yaml]

One process (``--ranks 1``) or ``torchrun --nproc-per-node N`` on this machine, ``--max-iters 1``, CPU.
Every 0.2 s it reads each training process's ``/proc/PID/smaps_rollup``: the peak RSS of each, and
the peak of their summed PSS (pages shared by several processes, such as the mapped dataset index,
count once in the sum), which is what the processes together take from the machine. The images of
a generated file can be one picture per size, hard-linked under every name (``ln``): start-up reads
each image's header, not its pixels.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from gnrcnn.data.shapes import make_shapes
from gnrcnn.tools.harness import add_dry_run, scratch_folder


def _smaps(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[1].isdigit():
                    out[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        pass
    return out


def _trainers(root: int) -> list[int]:
    """The python processes under ``root`` (itself included) running ``gnrcnn``'s training."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        if b"gnrcnn" in cmd and b"torch.distributed.run" not in cmd:
            found.append(pid)
        todo += [int(k) for k in kids]
    return found


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ann")
    ap.add_argument("--data-root")
    ap.add_argument("--ranks", type=int, default=1)
    ap.add_argument("--config", default=str(Path(__file__).parent.parent / "tests" / "assets" / "tiny.yaml"))
    add_dry_run(ap)
    a = ap.parse_args(argv)
    if a.dry_run:
        tmp = Path(scratch_folder())
        make_shapes(tmp, 2, 1, 64, seed=0)
        a.ann, a.data_root = str(tmp / "annotations" / "train.json"), str(tmp)
    elif not (a.ann and a.data_root):
        ap.error("--ann and --data-root are required")
    work = Path(scratch_folder())
    train = ["-m", "gnrcnn", "train", "--config", a.config, "--data-root", a.data_root, "--ann", a.ann,
             "--work-dir", str(work), "--max-iters", "1", "--device", "cpu", "--num-workers", "0"]  # fmt: skip
    if a.ranks > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(a.ranks), "--master-addr",
               "127.0.0.1", "--master-port", "29531", *train]  # fmt: skip
    else:
        cmd = [sys.executable, *train]
    env = dict(os.environ, GNRCNN_INDEX_DIR=str(work / "index"))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    rss: dict[int, int] = {}
    pss_sum, first = 0, None
    while proc.poll() is None:
        mem = {pid: _smaps(pid) for pid in _trainers(proc.pid)}
        for pid, m in mem.items():
            rss[pid] = max(rss.get(pid, 0), m.get("Rss", 0))
        pss_sum = max(pss_sum, sum(m.get("Pss", 0) for m in mem.values()))
        if first is None and (work / "metrics.jsonl").exists():
            first = time.perf_counter() - t0
        time.sleep(0.2)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode:
        sys.exit(f"training failed:\n{err[-3000:]}")
    peaks = ", ".join(f"{v / 1024:.0f}" for v in sorted(rss.values(), reverse=True)[: a.ranks])
    print(f"{a.ranks} process(es): first iteration logged after {first:.1f} s (run ended after "
          f"{time.perf_counter() - t0:.1f} s); peak RSS per process {peaks} MB; peak summed PSS "
          f"{pss_sum / 1024:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
