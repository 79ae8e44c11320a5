"""Throughput and latency of `gnrcnn serve`, with and without batching, for R-50 and the demo model.

    python benchmarks/serve.py [--models r50,demo] [--batches 1,4] [--clients 4] [--requests 3]
                               [--r50-weights PATH] [--demo-weights PATH] [--device cpu] [--dry-run]

For each model and each ``--batch`` setting it measures, one after the other (never at once):
  model:  ``Detector.predict`` in this process on ``clients`` copies of the picture, ``batch_size``
          images per call (after one warm-up call): the network's own gain from batching;
  server: a real ``gnrcnn serve`` process (``--batch B --queue 2*clients``) answering ``clients``
          concurrent clients, each sending ``requests`` requests in a row (after one warm-up
          request): images per second, p50/p95 latency as the clients see it, the batch sizes the
          server formed and the detections per image.
R-50 reads the bundled photo (resized by the model to 800 x 1333); the demo model a generated
shapes picture (224 px). Without weights the models are randomly initialised: the speed of the
network is the same, the detections (and so the mask and RLE work) are not those of a trained model.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from gnrcnn import load_model
from gnrcnn.data.image_io import read_image
from gnrcnn.data.shapes import make_shapes
from gnrcnn.tools import harness

ROOT = Path(__file__).parent.parent
PHOTO = ROOT / "src" / "gnrcnn" / "assets" / "chelsea.png"
CONFIGS = {"r50": "mask-rcnn_r50_fpn_gn-all_2x_coco", "demo": "shapes-demo_r18_fpn_gn-all"}


def picture_for(model: str, tmp: Path) -> Path:
    if model == "r50":
        return PHOTO
    make_shapes(tmp / "shapes", train=0, val=1, size=224, seed=3)
    return tmp / "shapes" / "val" / "1000000.png"


def model_speed(config: str, weights: str | None, device: str, image: np.ndarray, n: int, batch: int,
                overrides: list[str]) -> float:  # fmt: skip
    """Images per second of Detector.predict on n copies, batch images per call."""
    det = load_model(config, weights or "none", device=device, overrides=overrides)
    job = {"model": lambda: det.predict([image] * n, color="rgb", batch_size=batch)}
    return n / harness.alternate(job, rounds=1, warmup=1, device=device)["model"][0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(config: str, weights: str | None, device: str, batch: int, queue: int, log: Path,
                 overrides: list[str]):  # fmt: skip
    port = free_port()
    cmd = [sys.executable, "-m", "gnrcnn", "serve", "--config", config, "--device", device, "--port", str(port),
           "--batch", str(batch), "--queue", str(queue), "--timeout", "3600", "--weights", weights or "none",
           *(f"--set={o}" for o in overrides)]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"server did not start:\n{log.read_text()}")


def server_speed(url: str, data: bytes, clients: int, requests: int) -> dict:
    """clients threads x requests each, all at once; latencies as the clients see them."""
    latencies: list[float] = []
    batches: list[int] = []
    dets: list[int] = []
    errors: list[str] = []

    def client() -> None:
        with httpx.Client(base_url=url, timeout=3600) as c:
            for _ in range(requests):
                t = time.perf_counter()
                r = c.post("/predict", content=data, headers={"Content-Type": "image/png"})
                latencies.append(time.perf_counter() - t)
                if r.status_code != 200:
                    errors.append(r.text[:200])
                    continue
                batches.append(r.json()["batch_size"])
                dets.append(len(r.json()["detections"]))

    httpx.post(f"{url}/predict", content=data, headers={"Content-Type": "image/png"}, timeout=3600)  # warm-up
    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{len(errors)} failed requests, e.g. {errors[0]}")
    p50, p95 = np.percentile(latencies, [50, 95])
    return {"img_per_s": len(latencies) / wall, "p50_s": float(p50), "p95_s": float(p95),
            "batches": sorted(set(batches)), "dets_per_img": float(np.mean(dets))}  # fmt: skip


def run(args: argparse.Namespace) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            config, weights = CONFIGS[model], getattr(args, f"{model}_weights")
            path = picture_for(model, Path(tmp))
            image, data = read_image(path), path.read_bytes()
            for batch in [int(b) for b in args.batches.split(",")]:
                speed = model_speed(config, weights, args.device, image, args.clients, batch, args.overrides)
                rows.append({"model": model, "mode": "model", "batch": batch, "img_per_s": speed})
                print(format_row(rows[-1]), flush=True)
                proc, url = start_server(config, weights, args.device, batch, 2 * args.clients, Path(tmp) / "log",
                                         args.overrides)  # fmt: skip
                try:
                    stats = server_speed(url, data, args.clients, args.requests)
                finally:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(600)
                rows.append({"model": model, "mode": "server", "batch": batch, "clients": args.clients, **stats})
                print(format_row(rows[-1]), flush=True)
    return rows


def format_row(r: dict) -> str:
    speed = f"{r['img_per_s']:7.3f} img/s ({1 / r['img_per_s']:6.2f} s/img)"
    if r["mode"] == "model":
        return f"{r['model']:<5} model   batch {r['batch']}            {speed}"
    return (f"{r['model']:<5} server  batch {r['batch']}  {r['clients']} clients  {speed}  "
            f"p50 {r['p50_s']:6.2f} s  p95 {r['p95_s']:6.2f} s  batches {r['batches']}  "
            f"{r['dets_per_img']:.0f} det/img")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="demo,r50")
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=3, help="per client")
    ap.add_argument("--r50-weights")
    ap.add_argument("--demo-weights")
    ap.add_argument("--device", default="cpu")
    harness.add_dry_run(ap)
    args = ap.parse_args(argv)
    args.overrides = []
    if args.dry_run:  # the demo model at 64 px, one client, one request
        args.models, args.batches, args.clients, args.requests = "demo", "1", 1, 1
        args.overrides = harness.DRY_OVERRIDES
    rows = run(args)
    print(json.dumps({"device": args.device, "rows": rows}))


if __name__ == "__main__":
    main()
