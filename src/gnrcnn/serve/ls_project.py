"""A Label Studio project as the ML backend sees it: which of its tags receive the masks, in which label names.

Label Studio sends its labelling config (``schema`` to /setup, ``label_config`` with every /predict). The
masks go to its first ``PolygonLabels`` or ``BrushLabels`` tag whose ``toName`` is an ``Image``: as
``polygonlabels`` results (``labels/labelstudio.py``: rings simplified with ``tolerance`` pixels, points in
percent) or ``brushlabels`` ones (Label Studio's brush RLE, ``data/importers/ls_brush.py``). A model class
becomes the ``<Label value>`` of the same name (case aside) or the one whose ``predicted_values`` lists it
(Label Studio's own attribute for this); a class with no label is skipped, said once in one line.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from typing import Any

from ..data.importers.ls_brush import encode_mask
from ..labels.labelstudio import results as polygon_results
from ..labels.objects import PreLabel

KINDS = {"PolygonLabels": "polygonlabels", "BrushLabels": "brushlabels"}


class LabelConfigError(ValueError):
    """A labelling config the backend cannot predict for; the message is one line."""


@dataclass
class ProjectLabels:
    kind: str  # "polygonlabels" | "brushlabels"
    from_name: str  # the labels tag's name
    to_name: str  # the Image tag's name
    data_key: str  # the task's data field holding the image ("image" for value="$image")
    labels: dict[str, str]  # model class name -> the project's label
    names: list[str]  # the tag's labels, in their order
    unmatched: list[str] = field(default_factory=list)  # model classes with no label


def _label_map(tag: ET.Element, class_names: list[str]) -> dict[str, str]:
    by_name: dict[str, str] = {}
    for label in tag.iter("Label"):
        value = label.attrib.get("value", "")
        predicted = [v.strip() for v in label.attrib.get("predicted_values", "").split(",") if v.strip()]
        for name in class_names:
            if name in predicted or name.lower() == value.lower():
                by_name.setdefault(name, value)
    return by_name


def parse_config(xml: str, class_names: list[str]) -> ProjectLabels:
    """The tags and label names of ``xml`` for a model of ``class_names``; ``LabelConfigError`` if none fit."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        raise LabelConfigError(f"the labelling config is not XML ({e})") from None
    images = {el.attrib.get("name"): el.attrib.get("value", "") for el in root.iter("Image")}
    for tag in root.iter():
        if tag.tag in KINDS and tag.attrib.get("toName") in images:
            to_name = tag.attrib["toName"]
            labels = _label_map(tag, class_names)
            unmatched = [n for n in class_names if n not in labels]
            key = images[to_name].lstrip("$")
            names = [el.attrib.get("value", "") for el in tag.iter("Label")]
            return ProjectLabels(KINDS[tag.tag], tag.attrib.get("name", ""), to_name, key, labels, names, unmatched)
    raise LabelConfigError("the labelling config has no PolygonLabels or BrushLabels tag on an Image: gnrcnn "
                           "predicts instance masks, as polygons or brush masks")  # fmt: skip


def warn_unmatched(project: str, labels: ProjectLabels) -> None:
    """One line for the model classes the project has no label for (their detections are skipped)."""
    if labels.unmatched:
        names = ", ".join(repr(n) for n in labels.unmatched)
        print(f"warning: label-studio project {project}: model class(es) {names} match no label of "
              f"<{labels.from_name}> ({', '.join(labels.names) or 'none'}); their detections are skipped "
              "(add the label, or predicted_values=\"name\" to a Label)", file=sys.stderr, flush=True)  # fmt: skip


def _brush_results(objects: list[PreLabel], labels: ProjectLabels, width: int, height: int) -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "from_name": labels.from_name, "to_name": labels.to_name, "type": "brushlabels",
             "original_width": width, "original_height": height, "image_rotation": 0,
             "value": {"format": "rle", "rle": encode_mask(obj.mask), "brushlabels": [obj.label]},
             "score": round(obj.score, 5)} for i, obj in enumerate(objects) if obj.mask.any()]  # fmt: skip


def task_results(objects: list[PreLabel], labels: ProjectLabels, width: int, height: int, tolerance: float
                 ) -> list[dict[str, Any]]:  # fmt: skip
    """The Label Studio results of one image's detections, in the project's label names (unmatched: left out)."""
    named = [replace(o, label=labels.labels[o.label]) for o in objects if o.label in labels.labels]
    if labels.kind == "brushlabels":
        return _brush_results(named, labels, width, height)
    return polygon_results(named, width=width, height=height, from_name=labels.from_name, to_name=labels.to_name,
                           tolerance=tolerance)  # fmt: skip
