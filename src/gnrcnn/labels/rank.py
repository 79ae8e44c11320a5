"""``gnrcnn rank``: unlabelled images ordered by how much labelling each is likely to help.

Each image is predicted as it is and mirrored left-right (``predict/tta.py``'s ``flip_instances``
maps the mirror's detections back); the signals, higher meaning "label this first":

- ``score``: how ambiguous its detections are, the sum over them of ``1 - |2 s - 1|`` (1 at a score of
  0.5, 0 at 0 or 1): many doubtful objects make a high score;
- ``flip``: how much the plain and the mirrored predictions disagree, ``1 -`` the matched fraction of
  ``evaluation/matching.py``'s ``compare_instances`` (same class, box IoU >= 0.5, each side's detections
  scoring >= ``min_score``);
- ``mask``: how unstable the masks are under the mirror, ``1 -`` the mean mask IoU of those matched pairs;
- ``random``: a seeded random order, the baseline.

The default is ``score``: in ``gnrcnn study active-learning`` on the shapes data (docs/finetune.md) it
gave a higher mean mask AP than random picks after each of 3 rounds (2 seeds); at that study's small
scale the margin is a weak signal, and the doc gives the numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..data.image_io import read_image
from ..evaluation.matching import compare_instances
from ..fileio import write_json_atomic, write_text_atomic
from ..predict.detector import DetectorBase
from ..predict.tta import flip_instances
from ..progress import progress
from ..structures import Instances

SIGNALS = ("random", "score", "flip", "mask")
DEFAULT_SIGNAL = "score"
FLIP_BOX_IOU = 0.5  # the same object seen twice, not an exported model's near-identical boxes


@dataclass(frozen=True)
class Ranked:
    image: str
    score: float  # the signal: higher, label sooner
    rank: int  # 1: label first
    detections: int  # scoring >= min_score in the plain prediction (-1: not predicted, the random signal)


def _views(images: list[Path]) -> Iterator[np.ndarray]:
    """Each image, then its mirror image (RGB arrays): one decode per image."""
    for path in images:
        arr = read_image(path)
        yield arr
        yield np.ascontiguousarray(arr[:, ::-1])


def _kept(inst: Instances, min_score: float) -> Instances:
    keep = inst.scores >= min_score
    return replace(inst, boxes=inst.boxes[keep], scores=inst.scores[keep], labels=inst.labels[keep],
                   masks=inst.masks[keep])  # fmt: skip


def score_ambiguity(results: list[Instances]) -> torch.Tensor:
    """(n,) per image: the sum of ``1 - |2 s - 1|`` over its detections, all images' scores at once."""
    scores = torch.cat([r.scores.float().cpu() for r in results]) if results else torch.zeros(0)
    image = torch.repeat_interleave(torch.arange(len(results)), torch.tensor([len(r) for r in results]))
    return torch.zeros(len(results)).index_add_(0, image, 1 - (2 * scores - 1).abs())


def flip_disagreement(plain: list[Instances], mirrored: list[Instances], min_score: float) -> torch.Tensor:
    """(n, 2) per image: 1 - the matched fraction, 1 - the matched pairs' mean mask IoU."""
    rows = []
    for a, b in zip(plain, mirrored):
        agreement = compare_instances(_kept(a, min_score), _kept(flip_instances(b), min_score), box_iou=FLIP_BOX_IOU,
                                      score_diff=None)  # fmt: skip
        rows.append((1 - agreement.matched_fraction, 1 - agreement.mean_mask_iou))
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 2)


def signals(detector: DetectorBase, images: list[Path], min_score: float = 0.5) -> dict[str, torch.Tensor]:
    """Every model signal of every image ((n,) each, in ``images``' order) and the detection counts."""
    results = list(progress(detector.iter_predict(_views(images), color="rgb"), total=2 * len(images),
                            desc="rank", unit="view"))  # fmt: skip
    plain, mirrored = results[0::2], results[1::2]
    flip = flip_disagreement(plain, mirrored, min_score)
    counts = torch.tensor([int((r.scores >= min_score).sum()) for r in plain], dtype=torch.float32)
    return {"score": score_ambiguity(plain), "flip": flip[:, 0], "mask": flip[:, 1], "detections": counts}


def random_values(count: int, seed: int) -> torch.Tensor:
    """The ``random`` signal: (count,) uniform draws of a seeded generator."""
    return torch.rand(count, generator=torch.Generator().manual_seed(seed))


def ranking(images: list[Path], values: torch.Tensor, counts: torch.Tensor | None = None) -> list[Ranked]:
    """``images`` by decreasing ``values`` (ties: by name), with their detection ``counts`` (-1: none)."""
    order = sorted(range(len(images)), key=lambda i: (-float(values[i]), str(images[i])))
    counts = counts if counts is not None else torch.full((len(images),), -1.0)
    return [Ranked(str(images[i]), round(float(values[i]), 6), r, int(counts[i])) for r, i in enumerate(order, 1)]


def rank_images(detector: DetectorBase | None, images: list[Path], signal: str = DEFAULT_SIGNAL, seed: int = 0,
                min_score: float = 0.5) -> list[Ranked]:  # fmt: skip
    """``images`` in the order to label them. ``random`` needs no detector."""
    if signal not in SIGNALS:
        raise ValueError(f"signal '{signal}': choose one of {', '.join(SIGNALS)}")
    if signal == "random":
        return ranking(images, random_values(len(images), seed))
    assert detector is not None, "the model signals need a detector"
    found = signals(detector, images, min_score)
    return ranking(images, found[signal], found["detections"])


def write_ranking(ranked: list[Ranked], out: str | Path, signal: str) -> tuple[Path, Path]:
    """``out/ranking.csv`` (rank, image, score, detections) and ``out/ranking.json`` (the same, with the signal)."""
    out = Path(out)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["rank", "image", "score", "detections"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(asdict(r) for r in ranked)
    write_text_atomic(text.getvalue(), out / "ranking.csv", "ranking")
    write_json_atomic({"signal": signal, "images": [asdict(r) for r in ranked]}, out / "ranking.json", "ranking",
                      indent=1)  # fmt: skip
    return out / "ranking.csv", out / "ranking.json"
