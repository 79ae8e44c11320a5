"""What a labeller receives from ``gnrcnn predict --labels labelme``: each image of the folder with its
pre-labels' polygons as labelme draws editable shapes (the outline, a dot per vertex, the label and the
score from the shape's description), side by side.

    PYTHONPATH=src python benchmarks/prelabel_picture.py OUT/labels_labelme --out docs/img/prelabels_labelme.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from gnrcnn.tools.harness import add_dry_run, scratch_folder
from gnrcnn.visualize.draw import palette

SCALE = 4  # the shapes images are 128 px: drawn larger, so that vertices and names can be read


def drawn(label_file: Path, class_colors: dict[str, tuple[int, int, int]]) -> np.ndarray:
    doc = json.loads(label_file.read_text())
    img = cv2.imread(str(label_file.parent / doc["imagePath"]))
    img = cv2.resize(img, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST)
    for shape in doc["shapes"]:
        rgb = class_colors.setdefault(shape["label"], palette(12)[len(class_colors)])
        color = tuple(int(c) for c in rgb[::-1])
        pts = np.asarray(shape["points"]) * SCALE
        cv2.polylines(img, [np.round(pts).astype(np.int32)], True, color, 2, cv2.LINE_AA)
        for x, y in pts:
            cv2.circle(img, (round(x), round(y)), 4, color, -1, cv2.LINE_AA)
        text = f"{shape['label']} {shape['description'].removeprefix('score ')}"
        x, y = pts.min(0)
        cv2.putText(img, text, (int(x), max(14, int(y) - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3)
        cv2.putText(img, text, (int(x), max(14, int(y) - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1)
    return img


def tiny_labelme_folder(root: Path) -> Path:
    """One 32 px image with one triangle, as gnrcnn predict --labels labelme writes it: for --dry-run."""
    root.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / "a.png"), np.full((32, 32, 3), 200, np.uint8))
    shape = {"label": "triangle", "points": [[4, 28], [16, 4], [28, 28]], "description": "score 0.9",
             "shape_type": "polygon"}  # fmt: skip
    (root / "a.json").write_text(json.dumps({"imagePath": "a.png", "shapes": [shape]}))
    return root


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", help="a folder written by gnrcnn predict --labels labelme")
    ap.add_argument("--out")
    ap.add_argument("--images", type=int, default=3)
    add_dry_run(ap)
    args = ap.parse_args(argv)
    if args.dry_run:
        tmp = Path(scratch_folder())
        args.folder, args.out = str(tiny_labelme_folder(tmp / "labels")), str(tmp / "picture.png")
    elif not args.folder or not args.out:
        ap.error("give the labelme folder and --out (or --dry-run)")
    colors: dict[str, tuple[int, int, int]] = {}
    files = sorted(Path(args.folder).glob("*.json"))[: args.images]
    row = np.concatenate([np.pad(drawn(f, colors), ((0, 0), (0, 8), (0, 0)), constant_values=255) for f in files], 1)
    cv2.imwrite(args.out, row)
    print(f"{args.out}: {len(files)} image(s)")


if __name__ == "__main__":
    main()
