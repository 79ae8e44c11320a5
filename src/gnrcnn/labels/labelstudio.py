"""Label Studio pre-annotations: ``polygonlabels`` results with a score each, and the tasks file that
Label Studio imports them from (``tasks.json``: one task per image, its ``predictions`` the pre-labels).

A result's points are percentages of the image's width and height, as Label Studio stores them. Its
polygons are single rings: a multi-part object keeps its largest part (the others are usually specks
a mask threshold left), a hole is filled (the outer ring only); both are said in docs/finetune.md.
Label Studio reads the images through its local-files storage: each task's ``data.image`` is
``/data/local-files/?d=<path>``, the path relative to the folder written, which is the document root
to serve (``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``, with a local storage pointing into it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from ..fileio import write_json_atomic, write_text_atomic
from ..structures import Instances
from .objects import ImageLabels, PreLabel, from_instances
from .polygons import mask_to_polygons

LOCAL_FILES = "/data/local-files/?d="


def results(objects: list[PreLabel], *, width: int, height: int, from_name: str, to_name: str,
            tolerance: float) -> list[dict[str, Any]]:  # fmt: skip
    """One ``polygonlabels`` result per object (its largest ring), points in percent of the image."""
    out = []
    for i, obj in enumerate(objects):
        rings = mask_to_polygons(obj.mask, tolerance)
        if not rings:
            continue
        points = (rings[0].astype(float) * [100.0 / width, 100.0 / height]).clip(0, 100).round(4).tolist()
        out.append({"id": f"r{i}", "from_name": from_name, "to_name": to_name, "type": "polygonlabels",
                    "original_width": width, "original_height": height, "image_rotation": 0,
                    "value": {"points": points, "closed": True, "polygonlabels": [obj.label]},
                    "score": round(obj.score, 5)})  # fmt: skip
    return out


def instances_to_labelstudio(instances: Instances, *, width: int, height: int, from_name: str = "label",
                             to_name: str = "image", tolerance: float = 0.5, score_thr: float = 0.5
                             ) -> list[dict[str, Any]]:  # fmt: skip
    """A detector's result as Label Studio ``polygonlabels`` results (detections scoring >= ``score_thr``)."""
    return results(from_instances(instances, score_thr), width=width, height=height, from_name=from_name,
                   to_name=to_name, tolerance=tolerance)  # fmt: skip


def prediction(result: list[dict[str, Any]], model_version: str) -> dict[str, Any]:
    """A task's prediction: its results, the model version, and the mean of their scores as its score."""
    scores = [r["score"] for r in result]
    return {"model_version": model_version, "score": round(sum(scores) / len(scores), 5) if scores else 0.0,
            "result": result}  # fmt: skip


def labelling_config(class_names: list[str], from_name: str = "label", to_name: str = "image") -> str:
    """The project's labelling interface: the image and one polygon label per class."""
    labels = "\n".join(f"    <Label value={quoteattr(n)}/>" for n in class_names)
    return (f'<View>\n  <Image name="{to_name}" value="$image"/>\n  <PolygonLabels name="{from_name}" '
            f'toName="{to_name}">\n{labels}\n  </PolygonLabels>\n</View>\n')  # fmt: skip


def write(images: list[ImageLabels], out: str | Path, class_names: list[str], *, tolerance: float,
          model_version: str, from_name: str = "label", to_name: str = "image") -> Path:  # fmt: skip
    """``out/tasks.json`` (a task per image, with its pre-labels as a prediction) and ``out/label_config.xml``."""
    out = Path(out)
    tasks = []
    for img in images:
        result = results(img.objects, width=img.width, height=img.height, from_name=from_name, to_name=to_name,
                         tolerance=tolerance)  # fmt: skip
        tasks.append({"data": {"image": LOCAL_FILES + img.file_name},
                      "predictions": [prediction(result, model_version)]})  # fmt: skip
    write_text_atomic(labelling_config(class_names, from_name, to_name), out / "label_config.xml")
    write_json_atomic(tasks, out / "tasks.json", "Label Studio tasks")
    return out / "tasks.json"
