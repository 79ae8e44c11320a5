"""gnrcnn vs torchvision's own Mask R-CNN assembled as GN-all, in one process, same photo, same threads.

    python benchmarks/compare.py [--depth 50|101] [--threads 2] [--runs 5] [--train-runs 5] [--amp bf16]
                                 [--recompute auto|always|never]
                                 [--skip-train] [--skip-memory] [--json OUT] [--dry-run]

The peer is built from torchvision's classes: its ResNet with norm_layer=GroupNorm(32), FPN with
GroupNorm, FastRCNNConvFCHead (4 conv + 1 fc, GroupNorm), MaskRCNNHeads (GroupNorm), 81 classes,
min_size 800 / max_size 1333, the stem and stage 1 frozen as in gnrcnn. Both get the same decoded
photo (the bundled 300x451 picture, resized by each to 800x1203) for inference (batch 1) and the
same synthetic batch (2 images of 800x1333, 8 boxes with elliptical masks each) for one training
iteration (forward, backward, SGD step; gnrcnn's is the trainer's own, ``tools/bench.train_step``).
Runs alternate between the two models (``tools/harness.py``), one round = one run of each; reported
after warm-up: each model's median time, and the median and min-max of the per-round
gnrcnn/torchvision ratios. Peak memory is measured in a fresh process per model and mode (peak RSS,
``harness.in_fresh_process``).
Both models run with the allocator setting that the gnrcnn command applies to its process
(gnrcnn.keep_freed_memory); --system-malloc runs both with glibc's defaults instead.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from gnrcnn import build_model, keep_freed_memory, load_config
from gnrcnn.data.image_io import bundled_photo, read_image
from gnrcnn.data.synthetic import synthetic_batch
from gnrcnn.predict.detector import Detector
from gnrcnn.tools import harness
from gnrcnn.tools.bench import train_step


@dataclass(frozen=True)
class Setup:
    depth: int  # 18: the dry run's
    amp: str | None
    recompute: str

    def config(self):
        if self.depth == 18:
            return load_config(
                harness.DRY_CONFIG, [*harness.DRY_OVERRIDES, f"train.recompute_backbone={self.recompute}"]
            )
        return load_config(
            f"mask-rcnn_r{self.depth}_fpn_gn-all_2x_coco", [f"train.recompute_backbone={self.recompute}"]
        )


def torchvision_peer(depth: int, classes: int = 81, size: tuple[int, int] = (800, 1333)) -> nn.Module:
    from torchvision.models import resnet18, resnet50, resnet101
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    gn = partial(nn.GroupNorm, 32)
    body = {18: resnet18, 50: resnet50, 101: resnet101}[depth](weights=None, norm_layer=gn)
    widths = [64, 128, 256, 512] if depth == 18 else [256, 512, 1024, 2048]
    for m in (body.conv1, body.bn1, body.layer1):  # frozen like gnrcnn's stem + stage 1
        m.requires_grad_(False)
    layers = {"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"}
    c = 64 if depth == 18 else 256  # the dry run's narrow FPN and heads (torchvision's predictors take 1024, 256)
    backbone = BackboneWithFPN(body, layers, widths, c, LastLevelMaxPool(), norm_layer=gn)
    box_head = FastRCNNConvFCHead((c, 7, 7), [c] * 4, [1024], norm_layer=gn)
    mask_head = MaskRCNNHeads(c, [c] * 3 + [256], 1, norm_layer=gn)
    return MaskRCNN(backbone, num_classes=classes, min_size=size[0], max_size=size[1], box_head=box_head,
                    mask_head=mask_head)  # fmt: skip


class Ours:
    def __init__(self, setup: Setup, modes: str = "infer train") -> None:
        self.cfg = setup.config()
        if "infer" in modes:
            self.detector = Detector(self.cfg, build_model(self.cfg), device="cpu", amp=setup.amp, owns_model=True)
        if "train" in modes:  # the trainer's step, laid out for training as the trainer does
            self.step = train_step(self.cfg, amp=setup.amp)[0]

    def infer(self, image) -> int:
        return len(self.detector.predict(image, color="rgb")[0])

    def train(self) -> None:
        self.step()


class Peer:
    def __init__(self, setup: Setup) -> None:
        cfg = setup.config()
        self.model = torchvision_peer(setup.depth, cfg.num_classes + 1, (cfg.input.short, cfg.input.long)).eval()
        self.batch = synthetic_batch(2, cfg.num_classes, cfg.input.short, cfg.input.long)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = torch.optim.SGD(params, lr=1e-5, momentum=0.9)

    def infer(self, image) -> int:
        with torch.inference_mode():
            x = torch.from_numpy(image).permute(2, 0, 1).float() / 255
            return len(self.model([x])[0]["boxes"])

    def train(self) -> None:
        images, sizes, targets = self.batch
        self.model.train()
        h, w = (int(v) for v in sizes[0])
        ims = [images[i, :, :h, :w].float() / 255 for i in range(len(images))]
        start, tg = 0, []
        for b, lab in zip(targets.boxes, targets.labels):
            tg.append({"boxes": b, "labels": lab + 1, "masks": targets.masks[start : start + len(b), :h, :w]})
            start += len(b)
        loss = sum(self.model(ims, tg).values())
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.model.eval()


def times_of(ours: Ours, peer: Peer, runs: int, train_runs: int) -> dict:
    image = read_image(bundled_photo())
    infer = {"gnrcnn": lambda: ours.infer(image), "torchvision": lambda: peer.infer(image)}
    out = {"infer": harness.alternate(infer, runs, warmup=2 if runs > 1 else 0)}
    train = {"gnrcnn": ours.train, "torchvision": peer.train}
    out["train"] = (
        harness.alternate(train, train_runs, warmup=int(train_runs > 1))
        if train_runs
        else {"gnrcnn": [], "torchvision": []}
    )
    return out


def memory_job(which: str, mode: str, setup: Setup) -> None:
    """A fresh process's work for the memory figure: build one model, run ``mode`` three times."""
    model = Ours(setup, mode) if which == "gnrcnn" else Peer(setup)
    image = read_image(bundled_photo())
    for _ in range(3):
        model.infer(image) if mode == "infer" else model.train()


def main(argv: list[str] | None = None) -> None:
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
    harness.add_dry_run(ap)
    args = ap.parse_args(argv)
    if args.dry_run:
        args.depth, args.runs, args.train_runs = 18, 1, 1
    if args.system_malloc:
        os.environ["GNRCNN_MALLOC"] = "system"  # the memory children inherit it
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    setup = Setup(args.depth, args.amp, args.recompute)
    ours, peer = Ours(setup), Peer(setup)
    times = times_of(ours, peer, args.runs, 0 if args.skip_train else args.train_runs)
    result = {"depth": args.depth, "threads": args.threads, "amp": args.amp, "torch": torch.__version__,
              "recompute": args.recompute,
              "malloc": "system" if args.system_malloc else "keep_freed_memory",
              "machine": harness.cpu_name(), "runs": times}  # fmt: skip
    for mode in ("infer", "train"):
        g, t = times[mode].get("gnrcnn"), times[mode].get("torchvision")
        if g:
            r = harness.spread(g, t)
            result[mode] = {"gnrcnn_s": statistics.median(g), "torchvision_s": statistics.median(t),
                            "ratio": r.ratio, "ratio_min": r.ratio_min, "ratio_max": r.ratio_max}  # fmt: skip
            r = result[mode]
            print(
                f"R-{args.depth} {mode:5}  gnrcnn {statistics.median(g):6.2f} s   torchvision "
                f"{statistics.median(t):6.2f} s   ratio {r['ratio']:.3f} ({r['ratio_min']:.3f}-{r['ratio_max']:.3f}"
                f" over {len(g)} rounds)   (amp={args.amp or 'fp32'})"
            )
    if not args.skip_memory:
        for mode in ("infer", "train") if not (args.skip_train or args.dry_run) else ("infer",):
            mem = {
                w: harness.in_fresh_process(memory_job, w, mode, setup).peak_rss_gb for w in ("gnrcnn", "torchvision")
            }
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
