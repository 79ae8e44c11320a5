"""``gnrcnn demo`` (what ``make demo`` runs): generated data -> training -> evaluation -> pictures.

Everything lands in one folder: the dataset, the training run (checkpoints, metrics.jsonl), the
loss curve, the COCO metrics, prediction pictures of validation images and ``gnrcnn analyze``'s
pictures of the whole validation split (PR curves, confusion matrix, worst and best images).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..analysis.analyze import Options, analyze
from ..config.loader import load_config
from ..data.shapes import make_shapes
from ..errors import GnrcnnError
from ..evaluation.evaluate import format_table
from ..fileio import write_json_atomic
from ..predict.detector import Detector
from ..predict.files import predict_files
from ..train.trainer import TrainArgs, Trainer

CONFIG = "shapes-demo_r18_fpn_gn-all"


@dataclass(frozen=True)
class Recipe:
    train_images: int
    val_images: int
    size: int
    overrides: tuple[str, ...] = ()


FULL = Recipe(400, 50, 224)
# A reduced run for CI: small images and a short schedule; it checks the plumbing, not the accuracy.
QUICK = Recipe(40, 8, 128, ("input.short=128", "input.long=128", "train.iters=100", "train.lr_step_iters=[80, 95]",
                            "train.warmup_iters=10", "train.log_every=10", "train.num_workers=0"))  # fmt: skip


def train_args(data: Path, paths: dict[str, Path], work: Path, device: str, **more: object) -> TrainArgs:
    """Training on a generated shapes dataset (``make_shapes``'s ``paths``), validated on its val split: the
    recipe the demo and ``gnrcnn study`` share."""
    return TrainArgs(data_root=str(data), ann=str(paths["train"]), work_dir=str(work), val_data_root=str(data),
                     val_ann=str(paths["val"]), device=device, **more)  # type: ignore[arg-type]  # fmt: skip


def run(out: str | Path, quick: bool = False, device: str = "cpu", seed: int = 0) -> dict:
    recipe = QUICK if quick else FULL
    out = Path(out)
    start = time.perf_counter()
    data = out / "data"
    if data.exists():
        shutil.rmtree(data)
    paths = make_shapes(data, recipe.train_images, recipe.val_images, recipe.size, seed)
    print(f"demo: generated {recipe.train_images} + {recipe.val_images} shape images ({recipe.size} px) in {data}/")
    cfg = load_config(CONFIG, list(recipe.overrides))
    work = out / "train"
    args = train_args(data, paths, work, device, overwrite=True)  # the demo starts afresh, as its data does
    trainer = Trainer(cfg, args)
    metrics = trainer.train()
    detector = Detector(trainer.cfg, trainer.model, device=device)
    val = json.loads(paths["val"].read_text())
    pictures = [str(data / im["file_name"]) for im in val["images"][:8]]
    predict_files(detector, pictures, out / "predictions", score_thr=0.5)
    _analyze(detector, data, paths["val"], out)
    shutil.copy(work / "loss_curve.png", out / "loss_curve.png")
    elapsed = time.perf_counter() - start
    summary = {"box_AP": metrics["bbox"]["AP"], "mask_AP": metrics["segm"]["AP"], "wall_s": round(elapsed, 1),
               "quick": quick, "metrics": metrics}  # fmt: skip
    write_json_atomic(summary, out / "metrics.json", "metrics", indent=2)
    _print_summary(out, metrics, elapsed)
    return summary


def _analyze(detector: Detector, data: Path, val_ann: Path, out: Path) -> None:
    """``gnrcnn analyze`` of the whole validation split: predictions by file name, matched to the ground truth's."""
    predict_files(detector, [str(data / "val")], out / "val_predictions", draw_pictures=False)
    try:
        analyze(out / "val_predictions" / "predictions.json", val_ann, out / "analyze", Options(data_root=str(data)))
    except GnrcnnError as e:  # a model too weak to detect anything: the rest of the demo still stands
        print(f"warning: analyze skipped: {e}")


def _print_summary(out: Path, metrics: dict, elapsed: float) -> None:
    print(f"\ndemo finished in {elapsed / 60:.1f} min. COCO metrics on the validation split:")
    print(format_table(metrics))
    print(f"\n  box AP  {metrics['bbox']['AP']:.3f}   mask AP  {metrics['segm']['AP']:.3f}   (AP@[.5:.95])")
    print(f"  results:      {out}/")
    print(f"  pictures:     {out}/predictions/*.png")
    print(f"  analysis:     {out}/analyze/ (pr_curves.png, confusion_matrix.png, worst/, best/, summary.txt)")
    print(f"  loss curve:   {out}/loss_curve.png")
    print(f"  metrics:      {out}/metrics.json")
    print(f"  checkpoint:   {out}/train/model_final.pth  (gnrcnn predict --weights ... IMAGES --out DIR)")
