"""``gnrcnn study detect-pretrained``: the GN paper's BN* vs GN detection comparison, with pretrained backbones.

Two steps, each resumable:

1. **Pretraining**: the detector's own ResNet (``modeling/resnet.ResNet``, depth ``plan.depth``) with
   pooling and a linear head (``ResNetClassifier``) is trained on the generated shape crops under the
   classification study's protocol (``classify_train.fit``), once with BN (per-batch statistics, the
   plan's batch) and once with GN (32 groups, the detector's ``group_norm``). The input is the
   detector's own (its config's channel order, mean and std, through ``data/preprocess.Normalizer``),
   so the features carry over. Each backbone is saved as ``out/backbones/<norm>.pth``, a state dict in
   the detector's names that ``gnrcnn train --backbone-weights FILE`` loads; its record
   (``<norm>.json``, the test error) is written after it, and a backbone whose record exists is skipped.
2. **Fine-tuning**: the demo's detector at the plan's images per batch (``norm_vs_batch.train_run``:
   the trainer, checkpoints, resume, diverged runs recorded), once per variant and seed:

   - ``bn_star``: backbone ``frozen_bn`` holding the BN backbone's running averages, FPN and heads
     without a norm (the paper's BN* baseline);
   - ``gn_backbone``: the GN backbone, FPN and heads without a norm;
   - ``gn_all``: the GN backbone, GN in the FPN and the heads (the paper's GN model, the demo's recipe);
   - ``gn_all_scratch`` (optional): ``gn_all`` from scratch, what pretraining adds.

The detection seeds vary the heads' initial weights and the sampler's order (``train.seed``); the data
and the pretrained backbones are the same for every seed. ``detect_pretrained_report.py`` writes
``study.md``, ``study.json`` and ``study.png`` after every run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from ..config.loader import load_config
from ..data.preprocess import Normalizer
from ..errors import GnrcnnError
from ..fileio import atomic_open, write_json_atomic
from .classifier import ResNetClassifier
from .classify_plan import norm_of
from .classify_train import fit, load_data
from .detect_pretrained_plan import QUICK, VARIANTS, DetectPretrainedPlan
from .detect_pretrained_report import write_report
from .folder import open_study
from .norm_vs_batch import CONFIG, Variant, train_run

__all__ = ["QUICK", "VARIANTS", "DetectPretrainedPlan", "pretrain", "run", "variant"]


def variant(plan: DetectPretrainedPlan, out: Path, name: str, seed: int) -> Variant:
    """The run of ``name`` at ``seed``: its norms, lr and seed as overrides, its backbone file."""
    source, (backbone, fpn, roi) = VARIANTS[name]
    overrides = (f"model.backbone.norm={backbone}", f"model.fpn.norm={fpn}", f"model.roi.norm={roi}",
                 f"train.base_lr={plan.base_lr}", f"train.seed={seed}")  # fmt: skip
    weights = str(out / "backbones" / f"{source}.pth") if source else None
    return Variant(f"{name}_s{seed}", overrides, weights, {"variant": name, "seed": seed, "backbone": source})


def _to_input(cfg_name: str) -> Any:
    """The detector's input convention (channel order, mean, std) for uint8 crops."""
    normalizer = Normalizer(load_config(cfg_name).input)

    def to_input(x: torch.Tensor) -> torch.Tensor:
        sizes = torch.tensor([x.shape[2:]] * len(x))
        return normalizer.normalize(x, sizes)

    return to_input


def pretrain(plan: DetectPretrainedPlan, out: Path, norm: str) -> dict[str, Any]:
    """One backbone pretrained (or its record read back if done): ``out/backbones/<norm>.pth`` and ``.json``."""
    record_path = out / "backbones" / f"{norm}.json"
    if record_path.exists():
        return json.loads(record_path.read_text())
    p, batch, seed = plan.pretrain, plan.pretrain.batches[0], plan.pretrain.seeds[0]
    start = time.perf_counter()
    data = load_data(p, out / "pretrain")
    torch.manual_seed(seed)
    model = ResNetClassifier(depth=plan.depth, num_classes=len(p.classes), norm=norm_of(norm, p.groups))
    record = {"norm": norm, "batch": batch, "seed": seed, "depth": plan.depth,
              **fit(model, p, data, batch, seed, f"pretrain {norm}", _to_input(CONFIG))}  # fmt: skip
    if record["error"] is None:
        raise GnrcnnError(f"study: pretraining the {norm} backbone failed: {record['failed']}")
    weights = out / "backbones" / f"{norm}.pth"
    with atomic_open(weights, "pretrained backbone") as f:
        torch.save(model.backbone_state(), f)
    record.update(weights=str(weights), wall_s=round(time.perf_counter() - start, 1))
    write_json_atomic(record, record_path, "pretraining record", indent=2)
    return record


def run(plan: DetectPretrainedPlan, out: str | Path, device: str = "cpu") -> dict[str, list[dict[str, Any]]]:
    """The backbones, then every (variant, seed) fine-tuning (finished ones skipped), the report after each."""
    plan.check()
    out = open_study(plan, out)
    backbones = []
    for i, norm in enumerate(plan.backbones(), 1):
        state = "done, skipped" if (out / "backbones" / f"{norm}.json").exists() else "training"
        print(f"pretraining {i}/{len(plan.backbones())}: ResNet-{plan.depth} with {norm} ({state})", flush=True)
        backbones.append(pretrain(plan, out, norm))
        print(f"  test error {backbones[-1]['error']}%, {backbones[-1]['wall_s']:.0f} s", flush=True)
    runs: list[dict[str, Any]] = []
    todo = [(v, s) for v in plan.variants for s in plan.seeds]
    batch = plan.detect.batches[0]
    for i, (name, seed) in enumerate(todo, 1):
        v = variant(plan, out, name, seed)
        state = "done, skipped" if (out / "runs" / v.name / "study_run.json").exists() else "training"
        print(f"study run {i}/{len(todo)}: {name}, seed {seed}, {plan.detect.iters(batch)} iterations ({state})",
              flush=True)  # fmt: skip
        record = train_run(plan.detect, out, VARIANTS[name][1][0], batch, device, variant=v)
        if record is not None:
            runs.append(record)
            write_report(backbones, runs, plan, out)
    write_report(backbones, runs, plan, out)
    return {"backbones": backbones, "runs": runs}
