"""gnrcnn vs torchvision's own Mask R-CNN assembled as GN-all, in one process, same photo, same threads.

    python benchmarks/compare.py [--depth 50|101] [--threads 2] [--runs 5] [--train-runs 5] [--amp bf16]
                                 [--recompute auto|always|never]
                                 [--skip-train] [--skip-memory] [--json OUT]

The peer is built from torchvision's classes: its ResNet with norm_layer=GroupNorm(32), FPN with
GroupNorm, FastRCNNConvFCHead (4 conv + 1 fc, GroupNorm), MaskRCNNHeads (GroupNorm), 81 classes,
min_size 800 / max_size 1333, the stem and stage 1 frozen as in gnrcnn. Both get the same decoded
photo (the bundled 300x451 picture, resized by each to 800x1203) for inference (batch 1) and the
same synthetic batch (2 images of 800x1333, 8 boxes with elliptical masks each) for one training
iteration (forward, backward, SGD step). Runs alternate between the two models, one round = one run
of each; reported after warm-up: each model's median time, and the median and min-max of the per-round
gnrcnn/torchvision ratios. Peak memory is measured in a fresh process per model and mode (peak RSS).
Both models run with the allocator setting that the gnrcnn command applies to its process
(gnrcnn.keep_freed_memory); --system-malloc runs both with glibc's defaults instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from functools import partial

import torch
from torch import nn

from gnrcnn import build_model, keep_freed_memory, load_config
from gnrcnn.data.image_io import read_image
from gnrcnn.data.preprocess import Normalizer
from gnrcnn.data.synthetic import synthetic_batch
from gnrcnn.predict.detector import Detector
from gnrcnn.runtime import autocast, peak_rss_gb
from gnrcnn.tools.bench import photo_path
from gnrcnn.train.memory_plan import plan as plan_memory


def torchvision_peer(depth: int) -> nn.Module:
    from torchvision.models import resnet50, resnet101
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    gn = partial(nn.GroupNorm, 32)
    body = (resnet50 if depth == 50 else resnet101)(weights=None, norm_layer=gn)
    for m in (body.conv1, body.bn1, body.layer1):  # frozen like gnrcnn's stem + stage 1
        m.requires_grad_(False)
    layers = {"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"}
    backbone = BackboneWithFPN(body, layers, [256, 512, 1024, 2048], 256, LastLevelMaxPool(), norm_layer=gn)
    box_head = FastRCNNConvFCHead((256, 7, 7), [256] * 4, [1024], norm_layer=gn)
    mask_head = MaskRCNNHeads(256, [256] * 4, 1, norm_layer=gn)
    return MaskRCNN(backbone, num_classes=81, min_size=800, max_size=1333, box_head=box_head, mask_head=mask_head)


class Ours:
    def __init__(self, depth: int, amp: str | None, modes: str = "infer train", recompute: str = "auto") -> None:
        self.cfg = load_config(f"mask-rcnn_r{depth}_fpn_gn-all_2x_coco", [f"train.recompute_backbone={recompute}"])
        self.amp = amp
        if "infer" in modes:
            self.detector = Detector(self.cfg, build_model(self.cfg), device="cpu", amp=amp, owns_model=True)
        if "train" in modes:  # laid out for training as the trainer does
            self.model = build_model(self.cfg)
            recompute = plan_memory(self.model, self.cfg, torch.device("cpu"), amp).recompute
            self.model.configure_training(self.cfg.train.channels_last, recompute)

    def infer(self, image) -> int:
        return len(self.detector.predict(image, color="rgb")[0])

    def train_step(self, images, sizes, targets, opt) -> float:
        self.model.train()
        x = Normalizer(self.cfg.input).normalize(images, sizes)
        with autocast(torch.device("cpu"), self.amp):
            loss = sum(self.model(x, sizes, targets).values())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach())


class Peer:
    def __init__(self, depth: int) -> None:
        self.model = torchvision_peer(depth).eval()

    def infer(self, image) -> int:
        with torch.inference_mode():
            x = torch.from_numpy(image).permute(2, 0, 1).float() / 255
            return len(self.model([x])[0]["boxes"])

    def train_step(self, images, sizes, targets, opt) -> float:
        self.model.train()
        h, w = (int(v) for v in sizes[0])
        ims = [images[i, :, :h, :w].float() / 255 for i in range(len(images))]
        start, tg = 0, []
        for b, lab in zip(targets.boxes, targets.labels):
            tg.append({"boxes": b, "labels": lab + 1, "masks": targets.masks[start : start + len(b), :h, :w]})
            start += len(b)
        loss = sum(self.model(ims, tg).values())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        self.model.eval()
        return float(loss.detach())


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def alternate(ours: Ours, peer: Peer, runs: int, train_runs: int) -> dict:
    image = read_image(photo_path())
    out: dict = {"infer": {"gnrcnn": [], "torchvision": []}, "train": {"gnrcnn": [], "torchvision": []}}
    for _ in range(2):  # warm-up
        ours.infer(image)
        peer.infer(image)
    for _ in range(runs):
        out["infer"]["gnrcnn"].append(_time(lambda: ours.infer(image)))
        out["infer"]["torchvision"].append(_time(lambda: peer.infer(image)))
    if train_runs:
        images, sizes, targets = synthetic_batch(2, 80)
        opts = {name: torch.optim.SGD([p for p in m.model.parameters() if p.requires_grad], lr=1e-5, momentum=0.9)
                for name, m in (("gnrcnn", ours), ("torchvision", peer))}  # fmt: skip
        ours.train_step(images, sizes, targets, opts["gnrcnn"])  # warm-up
        peer.train_step(images, sizes, targets, opts["torchvision"])
        for _ in range(train_runs):
            out["train"]["gnrcnn"].append(_time(lambda: ours.train_step(images, sizes, targets, opts["gnrcnn"])))
            out["train"]["torchvision"].append(
                _time(lambda: peer.train_step(images, sizes, targets, opts["torchvision"]))
            )
    return out


def ratio_spread(ours: list[float], peer: list[float]) -> dict:
    """The median and min-max of the per-round ratios. Each round times both models back to back, so a load
    change on a shared machine moves both sides of one ratio alike; a target counts only if the spread meets it."""
    ratios = [g / t for g, t in zip(ours, peer, strict=True)]
    return {"ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)}


def child_memory(which: str, mode: str, depth: int, amp: str | None, threads: int, recompute: str) -> float:
    """Peak RSS (GB) of a fresh process that builds one model and runs ``mode`` three times."""
    cmd = [sys.executable, __file__, "--child", which, mode, "--depth", str(depth), "--threads", str(threads),
           "--recompute", recompute]  # fmt: skip
    if amp and which == "gnrcnn":
        cmd += ["--amp", amp]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return float(res.stdout.strip().splitlines()[-1])


def run_child(which: str, mode: str, depth: int, amp: str | None, recompute: str) -> None:
    model = Ours(depth, amp, mode, recompute) if which == "gnrcnn" else Peer(depth)
    if mode == "infer":
        image = read_image(photo_path())
        for _ in range(3):
            model.infer(image)
    else:
        images, sizes, targets = synthetic_batch(2, 80)
        opt = torch.optim.SGD([p for p in model.model.parameters() if p.requires_grad], lr=1e-5, momentum=0.9)
        for _ in range(3):
            model.train_step(images, sizes, targets, opt)
    print(peak_rss_gb())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depth", type=int, default=50, choices=[50, 101])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--train-runs", type=int, default=5)
    ap.add_argument("--amp", choices=["bf16"], default=None, help="gnrcnn's precision (the peer stays fp32)")
    ap.add_argument(
        "--recompute",
        choices=["auto", "always", "never"],
        default="auto",
        help="gnrcnn's train.recompute_backbone (auto: by the memory budget)",
    )
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--system-malloc", action="store_true", help="glibc's defaults for both models")
    ap.add_argument("--json")
    ap.add_argument("--child", nargs=2, metavar=("MODEL", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.system_malloc:
        os.environ["GNRCNN_MALLOC"] = "system"  # the memory children inherit it
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    if args.child:
        run_child(*args.child, args.depth, args.amp, args.recompute)
        return
    torch.manual_seed(0)
    ours, peer = Ours(args.depth, args.amp, recompute=args.recompute), Peer(args.depth)
    times = alternate(ours, peer, args.runs, 0 if args.skip_train else args.train_runs)
    result = {"depth": args.depth, "threads": args.threads, "amp": args.amp, "torch": torch.__version__,
              "recompute": args.recompute,
              "malloc": "system" if args.system_malloc else "keep_freed_memory",
              "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "runs": times}  # fmt: skip
    for mode in ("infer", "train"):
        g, t = times[mode]["gnrcnn"], times[mode]["torchvision"]
        if g:
            result[mode] = {"gnrcnn_s": statistics.median(g), "torchvision_s": statistics.median(t),
                            **ratio_spread(g, t)}  # fmt: skip
            r = result[mode]
            print(
                f"R-{args.depth} {mode:5}  gnrcnn {statistics.median(g):6.2f} s   torchvision "
                f"{statistics.median(t):6.2f} s   ratio {r['ratio']:.3f} ({r['ratio_min']:.3f}-{r['ratio_max']:.3f}"
                f" over {len(g)} rounds)   (amp={args.amp or 'fp32'})"
            )
    if not args.skip_memory:
        for mode in ("infer", "train") if not args.skip_train else ("infer",):
            mem = {w: child_memory(w, mode, args.depth, args.amp if w == "gnrcnn" else None, args.threads,
                                   args.recompute) for w in ("gnrcnn", "torchvision")}  # fmt: skip
            result[mode]["peak_gb"] = mem
            print(
                f"R-{args.depth} {mode:5}  peak RSS gnrcnn {mem['gnrcnn']:.2f} GB   torchvision "
                f"{mem['torchvision']:.2f} GB   ratio {mem['gnrcnn'] / mem['torchvision']:.3f}"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
