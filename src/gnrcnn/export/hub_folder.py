"""``gnrcnn export --format hub --out DIR``: a folder to upload to the Hugging Face Hub as it is.

``model.safetensors`` (the weights; config, class names and meta in its metadata, so the one file
loads with ``--weights hf://owner/repo``), ``config.yaml`` (the config, readable), ``class_names.json``
(names and COCO category ids, in label order) and ``README.md``, the model card: what the model is,
how to run it, the training data (the ``data`` record of the run's ``metrics.jsonl``) and the
evaluation table (its ``metrics.json``), both read from the checkpoint's folder when they are there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config.loader import dump_yaml
from ..config.schema import Config
from ..fileio import read_json_lines, write_bytes_atomic, write_json_atomic, write_text_atomic
from ..weights import gnrcnn_checkpoint
from ..weights.safetensors_file import checkpoint_bytes

METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def run_records(weights: str | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the training data record, the final metrics) found beside a local checkpoint, where they are."""
    folder = Path(weights).parent if weights and Path(weights).is_file() else None
    if folder is None:
        return None, None
    data = None
    if (folder / "metrics.jsonl").is_file():
        data = next((r["data"] for r in read_json_lines(folder / "metrics.jsonl") if isinstance(r, dict)
                     and "data" in r), None)  # fmt: skip
    metrics = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else None
    return data, metrics


def _data_section(data: dict[str, Any] | None) -> list[str]:
    if not data:
        return ["No training record was found beside the checkpoint (a run's `metrics.jsonl`)."]

    def left(c: dict[str, int]) -> str:
        return ", ".join(f"{n} {k}" for k, n in c.items()) or "none"

    rows = [("training images", data["images"]), ("of them negatives (no annotation)", data["negatives"]),
            ("annotations (instances)", data["annotations"]), ("images left out", left(data["images_left_out"])),
            ("annotations left out", left(data["annotations_left_out"]))]  # fmt: skip
    if data.get("val"):
        v = data["val"]
        rows += [("validation images", v["images"]), ("validation annotations", v["annotations"])]
    return ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]


def _eval_section(metrics: dict[str, Any] | None) -> list[str]:
    if not metrics or not any(t in metrics for t in ("bbox", "segm")):
        return ["Not evaluated (train with `--val-ann` to have `metrics.json` beside the checkpoint)."]
    lines = ["| | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
    for iou_type, name in (("bbox", "box"), ("segm", "mask")):
        if iou_type in metrics:
            lines.append(f"| {name} | " + " | ".join(f"{metrics[iou_type].get(m, float('nan')):.3f}"
                                                      for m in METRICS) + " |")  # fmt: skip
    return lines


def model_card(cfg: Config, data: dict[str, Any] | None, metrics: dict[str, Any] | None) -> str:
    names = list(cfg.data.class_names)
    parts = [
        "---", "library_name: gnrcnn", "pipeline_tag: image-segmentation",
        "tags: [instance-segmentation, object-detection, mask-rcnn, group-normalization, safetensors]", "---", "",
        f"# {cfg.name or 'gnrcnn model'}: Mask R-CNN with Group Normalization", "",
        f"A gnrcnn Mask R-CNN (ResNet-{cfg.model.backbone.depth}, FPN, "
        f"GroupNorm) for instance segmentation of {len(names)} classes: {', '.join(names[:20])}"
        + (", ..." if len(names) > 20 else "") + ".", "",
        "## Use", "", "```sh", "pip install 'gnrcnn[hub]'",
        "gnrcnn predict --weights hf://OWNER/REPO photos/ --out predictions/", "```", "",
        "or `gnrcnn.load_model(weights=\"hf://OWNER/REPO\")` from Python. `model.safetensors` holds the weights "
        "with the config and class names in its metadata (no pickle: loading runs no code); `config.yaml` and "
        "`class_names.json` are the same, readable.", "",
        "## Training data", "", *_data_section(data), "",
        "## Evaluation (COCO AP on the validation set)", "", *_eval_section(metrics), "",
    ]  # fmt: skip
    return "\n".join(parts)


def write_hub_folder(cfg: Config, model: Any, out: str | Path, weights: str | None = None) -> list[Path]:
    """Write the folder; returns its files."""
    out = Path(out)
    ckpt = gnrcnn_checkpoint(model, cfg.to_dict(), {"exported_from": str(weights or "")})
    files = [out / "model.safetensors", out / "config.yaml", out / "class_names.json", out / "README.md"]
    write_bytes_atomic(checkpoint_bytes(ckpt), files[0], "safetensors weights")
    write_text_atomic(dump_yaml(cfg), files[1], "config")
    classes = [{"label": i, "name": n, "category_id": c}
               for i, (n, c) in enumerate(zip(cfg.data.class_names, cfg.data.category_ids))]  # fmt: skip
    write_json_atomic(classes, files[2], "class names", indent=2)
    data, metrics = run_records(weights)
    write_text_atomic(model_card(cfg, data, metrics), files[3], "model card")
    return files
