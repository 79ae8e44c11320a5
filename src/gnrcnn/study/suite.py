"""``gnrcnn study all``: the four studies end to end, each in a process of its own, in parallel lanes.

Each study runs as ``python -m gnrcnn study NAME --out OUT/NAME --threads T`` with its output in
``OUT/NAME.log``. Two lanes by default, one thread each, so the two cores of a small CPU both work: at
one or two images per batch a second torch thread gains little (tensors this small leave it idle much
of the time) while a second study gains nearly all of it. Lane 1 runs the detector study, the longest;
lane 2 the three others one after another. Every study resumes by itself, so rerunning the same command
continues a stopped suite; a study that finished is not started again. ``OUT/suite.json`` and
``OUT/suite.md`` hold each study's state and wall time, and the suite's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import GnrcnnError
from ..fileio import write_json_atomic
from ..progress import progress

STUDIES = ("norm-vs-batch", "classify", "group-sweep", "detect-pretrained")


@dataclass(frozen=True)
class SuitePlan:
    lanes: int = 2  # studies in flight at once
    threads: int = 1  # torch threads of each study
    quick: bool = False  # every study's --quick (the plumbing, not a result)

    def lane_order(self) -> list[list[str]]:
        """The studies of each lane, in order: the detector study alone, the rest in turn, or all in one."""
        if self.lanes < 1 or self.threads < 1:
            raise GnrcnnError(f"study all: --lanes {self.lanes} --threads {self.threads}: give at least 1 of each")
        if self.lanes == 1:
            return [list(STUDIES)]
        rest = [list(STUDIES[1:][i :: self.lanes - 1]) for i in range(self.lanes - 1)]
        return [[STUDIES[0]], *[lane for lane in rest if lane]]


def command(name: str, out: Path, plan: SuitePlan) -> list[str]:
    return [sys.executable, "-m", "gnrcnn", "study", name, "--out", str(out / name), "--threads", str(plan.threads),
            *(["--quick"] if plan.quick else [])]  # fmt: skip


def run_suite(plan: SuitePlan, out: str | Path) -> dict:
    """Every study not yet finished, lane by lane in parallel; the suite record (also in ``suite.json``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "suite.json"
    record = json.loads(path.read_text()) if path.exists() else {"studies": {}}
    if record.get("quick", plan.quick) != plan.quick:
        raise GnrcnnError(f"{out}: holds a {'quick' if record['quick'] else 'full'} suite; use another --out")
    record["quick"], lock, start = plan.quick, threading.Lock(), time.monotonic()
    todo = [[s for s in lane if record["studies"].get(s, {}).get("state") != "done"] for lane in plan.lane_order()]
    bar = progress(total=sum(map(len, todo)), desc="studies", unit="study", dynamic_ncols=True)

    def lane_worker(names: list[str]) -> None:
        for name in names:
            state, seconds = _run_one(name, out, plan)
            with lock:
                record["studies"][name] = {"state": state, "wall_s": round(seconds, 1), "log": f"{name}.log"}
                write_json_atomic(record, path, "study suite record", indent=2)
                bar.update(1)
                bar.write(f"study {name}: {state} in {seconds / 60:.1f} min (log: {out / name}.log)")
            if state != "done":
                return  # a failed study stops its lane; the other lanes go on

    threads = [threading.Thread(target=lane_worker, args=(names,), daemon=True) for names in todo if names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bar.close()
    record["last_wall_s"] = round(time.monotonic() - start, 1)
    write_json_atomic(record, path, "study suite record", indent=2)
    (out / "suite.md").write_text(report(record, plan))
    return record


def _run_one(name: str, out: Path, plan: SuitePlan) -> tuple[str, float]:
    """One study in its own process, its output in ``OUT/NAME.log``: ("done" or "failed (exit N)", seconds)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(plan.threads), "GNRCNN_PROGRESS_EVERY": "60"}
    start = time.monotonic()
    with open(out / f"{name}.log", "a") as log:
        code = subprocess.call(command(name, out, plan), stdout=log, stderr=subprocess.STDOUT, env=env)
    return ("done" if code == 0 else f"failed (exit {code})"), time.monotonic() - start


def report(record: dict, plan: SuitePlan) -> str:
    rows = [f"| {name} | {s['state']} | {s['wall_s'] / 60:.1f} | {name}/study.md |"
            for name, s in record["studies"].items()]  # fmt: skip
    summed = sum(s["wall_s"] for s in record["studies"].values()) / 60
    return (
        f"# gnrcnn study all{' --quick' if plan.quick else ''}\n\n"
        f"{plan.lanes} lane(s), {plan.threads} thread(s) per study; this sitting's wall time "
        f"{record['last_wall_s'] / 60:.1f} min; studies' wall times summed {summed:.1f} min.\n\n"
        "| study | state | wall min | results |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )
