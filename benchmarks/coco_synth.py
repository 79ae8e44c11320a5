"""A generated COCO instances file of any size, shaped like train2017: 80 categories, ~7.5 polygon
annotations per image (1 to 14, 1% crowd; train2017 has 7.3), polygons of 6 to 46 points with two decimals.

    python benchmarks/coco_synth.py OUT.json --images 118287

Written in chunks through msgspec, so a 118k-image file (about 450 MB) takes well under a minute.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import msgspec
import numpy as np

from gnrcnn.tools.harness import add_dry_run, scratch_folder

SIZES = ((640, 480), (480, 640), (640, 427), (500, 375), (640, 640))


def _polygon(rng: np.random.Generator, x: float, y: float, w: float, h: float) -> list[float]:
    n = int(rng.integers(6, 47))
    angle = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = rng.uniform(0.6, 1.0, n)
    px = x + w / 2 * (1 + r * np.cos(angle))
    py = y + h / 2 * (1 + r * np.sin(angle))
    return np.round(np.stack([px, py], 1).ravel(), 2).tolist()


def _chunk(rng: np.random.Generator, first_image: int, n: int, next_ann: int) -> tuple[list[dict], list[dict]]:
    images, anns = [], []
    for image_id in range(first_image, first_image + n):
        w, h = SIZES[image_id % len(SIZES)]
        images.append({"id": image_id, "file_name": f"{image_id:012d}.jpg", "width": w, "height": h,
                       "license": 1, "date_captured": "2013-11-14 16:28:13"})  # fmt: skip
        for _ in range(int(rng.integers(1, 15))):
            bw, bh = float(rng.uniform(4, w / 2)), float(rng.uniform(4, h / 2))
            x, y = float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh))
            cat = int(rng.integers(1, 81))
            poly = _polygon(rng, x, y, bw, bh)
            x0, y0, x1, y1 = min(poly[0::2]), min(poly[1::2]), max(poly[0::2]), max(poly[1::2])
            anns.append({"id": next_ann, "image_id": image_id, "category_id": cat, "segmentation": [poly],
                         "area": round(bw * bh * 0.7, 2),  # the box is the polygon's extent, as in COCO
                         "bbox": [x0, y0, round(x1 - x0, 2), round(y1 - y0, 2)],
                         "iscrowd": int(rng.random() < 0.01)})  # fmt: skip
            next_ann += 1
    return images, anns


def write_coco(path: Path, n_images: int, seed: int = 0, chunk: int = 5000) -> int:
    """Write the file; returns the number of annotations."""
    rng = np.random.default_rng(seed)
    cats = [{"id": i, "name": f"class{i}", "supercategory": "thing"} for i in range(1, 81)]
    parts_img, parts_ann, n_ann = [], [], 0
    for start in range(1, n_images + 1, chunk):
        images, anns = _chunk(rng, start, min(chunk, n_images + 1 - start), n_ann + 1)
        n_ann += len(anns)
        parts_img.append(msgspec.json.encode(images)[1:-1])
        parts_ann.append(msgspec.json.encode(anns)[1:-1])
    with open(path, "wb") as f:
        f.write(b'{"info": {"description": "generated"}, "licenses": [], "images": [')
        f.write(b",".join(parts_img))
        f.write(b'], "annotations": [')
        f.write(b",".join(parts_ann))
        f.write(b'], "categories": ' + msgspec.json.encode(cats) + b"}")
    return n_ann


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, nargs="?")
    ap.add_argument("--images", type=int, default=118287)
    ap.add_argument("--seed", type=int, default=0)
    add_dry_run(ap)
    a = ap.parse_args(argv)
    if a.dry_run:
        a.out, a.images = Path(scratch_folder()) / "coco.json", 5
    elif a.out is None:
        ap.error("give the output file")
    n = write_coco(a.out, a.images, a.seed)
    print(f"{a.out}: {a.images} images, {n} annotations, {a.out.stat().st_size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
