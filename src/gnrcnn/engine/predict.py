"""``gnrcnn predict``: images or folders -> COCO results JSON + one picture per image."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from tqdm import tqdm

from ..data.image_io import list_images, read_image
from ..errors import GnrcnnError
from ..fileio import write_json_atomic
from .predictor import Detector
from .results import draw, save_png, to_coco_records


def _unique_png(out_dir: Path, stem: str, used: set[str]) -> Path:
    name, i = stem, 1
    while name in used:
        name, i = f"{stem}_{i}", i + 1
    used.add(name)
    return out_dir / f"{name}.png"


def predict_files(
    detector: Detector, inputs: list[str], out_dir: str | Path, score_thr: float = 0.5, draw_pictures: bool = True
) -> tuple[list[dict], list[str]]:
    """Run on every image; a bad image is reported and skipped so the others' results are kept.

    Returns the COCO records and the error lines. Writes ``predictions.json`` and ``<image>.png``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = list_images(inputs)
    records: list[dict] = []
    errors: list[str] = []
    used: set[str] = set()
    cat_ids = detector.cfg.data.category_ids
    for path in tqdm(paths, desc="predict", unit="img", disable=len(paths) < 2, file=sys.stderr):
        try:
            image = read_image(path)
        except GnrcnnError as e:
            errors.append(str(e))
            continue
        inst = detector.predict(image)[0]
        inst.name = str(path)
        records += to_coco_records(inst, cat_ids, file_name=str(path))
        if draw_pictures:
            save_png(draw(image, inst.to("cpu"), detector.class_names, score_thr), _unique_png(out, path.stem, used))
    write_json_atomic(records, out / "predictions.json")
    return records, errors


@torch.inference_mode()
def run(detector: Detector, inputs: list[str], out_dir: str, score_thr: float) -> int:
    records, errors = predict_files(detector, inputs, out_dir, score_thr)
    n_images = len(list_images(inputs)) - len(errors)
    shown = sum(1 for r in records if r["score"] >= score_thr)
    print(f"{n_images} image(s), {len(records)} detections ({shown} with score >= {score_thr} drawn) -> {out_dir}/")
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0
