"""Label Studio: its JSON export (``Export -> JSON``, or ``GET /api/projects/N/export?exportType=JSON``).

The export is a list of tasks: ``data`` names the image (``"/data/upload/3/1a2b3c4d-photo.png"`` for an
upload, whose stored name carries an 8-character prefix; ``"/data/local-files/?d=dir/photo.png"`` for
local storage; an ``http(s)://`` or ``s3://`` URL), ``annotations`` hold ``result`` regions. Each region
is in percent of ``original_width`` x ``original_height``: ``polygonlabels`` (``points``),
``rectanglelabels`` (``x``, ``y``, ``width``, ``height``, ``rotation`` in degrees clockwise about the top-left
corner) and ``brushlabels`` (``rle``: Label Studio's own bit-packed RLE, ``ls_brush.py``). A region drawn
with a plain ``Polygon``/``Rectangle``/``Brush`` tool gets its label from the ``labels`` region of the same
``id``, as Label Studio exports them. Per task, the latest annotation that was not cancelled is used (the
one Label Studio shows); a task nobody annotated is listed, not imported as an empty image. Images are
looked for under ``--images``, by their path after ``?d=`` and by their file name (with and without the
upload prefix).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import numpy as np

from ...errors import GnrcnnError
from .common import BOX, MASK, POLYGON, Imported, ImportedImage, Shape, checked_size, skip
from .ls_brush import BrushError, decode_mask

UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")  # Label Studio's uploads are stored as "<8 hex>-<name>"
REGION_TYPES = {"polygonlabels": POLYGON, "polygon": POLYGON, "rectanglelabels": BOX, "rectangle": BOX,
                "brushlabels": MASK, "brush": MASK}  # fmt: skip


def image_reference(data: dict[str, Any]) -> str | None:
    """The task's image: ``data["image"]``, else its one value that looks like a file or URL."""
    if isinstance(data.get("image"), str):
        return data["image"]
    refs = [v for v in data.values() if isinstance(v, str) and ("/" in v or "." in v)]
    return refs[0] if len(refs) == 1 else None


def candidates(ref: str, images: Path) -> list[Path]:
    """Where under ``images`` the image named by ``ref`` may be, most specific first."""
    url = urlparse(ref)
    rel = parse_qs(url.query).get("d", [""])[0] if url.path.rstrip("/").endswith("local-files") else ""
    name = Path(unquote(url.path)).name
    found = [images / rel] if rel else []
    found += [images / Path(rel).name] if rel else [images / name, images / UPLOAD_PREFIX.sub("", name)]
    return list(dict.fromkeys(found))


def _percent_points(value: dict[str, Any], w: float, h: float) -> np.ndarray | None:
    try:
        pts = np.asarray(value["points"], dtype=np.float64).reshape(-1, 2)
    except (KeyError, TypeError, ValueError):
        return None
    return pts * [w / 100, h / 100] if np.isfinite(pts).all() else None


def _rectangle(value: dict[str, Any], w: float, h: float) -> tuple[str, Any]:
    """(BOX, corners) or (POLYGON, the rotated rectangle); Label Studio turns it about its top-left corner."""
    try:
        x, y, bw, bh = (float(value[k]) for k in ("x", "y", "width", "height"))
        angle = math.radians(float(value.get("rotation") or 0))
    except (KeyError, TypeError, ValueError):
        return POLYGON, []
    x, y, bw, bh = x * w / 100, y * h / 100, bw * w / 100, bh * h / 100
    if not angle:
        return BOX, (x, y, x + bw, y + bh)
    c, s = math.cos(angle), math.sin(angle)
    local = np.array([[0, 0], [bw, 0], [bw, bh], [0, bh]])
    return POLYGON, [local @ np.array([[c, s], [-s, c]]) + [x, y]]  # clockwise with y pointing down


def _region(r: dict[str, Any], index: int, label: str, size: tuple[int, int]) -> Shape:
    kind = str(r.get("type", ""))
    name = f"region {index} ({kind} '{label}')"
    value = r.get("value") if isinstance(r.get("value"), dict) else {}
    w, h = (r.get("original_width") or size[0]), (r.get("original_height") or size[1])
    shape_kind = REGION_TYPES.get(kind)
    if shape_kind == POLYGON:
        pts = _percent_points(value, w, h)
        return Shape(label, POLYGON, name, polygons=[pts] if pts is not None else [])
    if shape_kind == BOX:
        how, geometry = _rectangle(value, w, h)
        return Shape(label, how, name, box=geometry) if how == BOX else Shape(label, POLYGON, name, polygons=geometry)
    if shape_kind == MASK:
        if value.get("format", "rle") != "rle" or "rle" not in value:
            return Shape(label, MASK, name, problem=f"brush region without an rle (format {value.get('format')!r})")
        try:
            return Shape(label, MASK, name, mask=decode_mask(value["rle"], int(h), int(w)))
        except BrushError as e:
            return Shape(label, MASK, name, problem=str(e))
    return Shape(label, kind or "(no type)", name)


def _label(r: dict[str, Any], labels_by_id: dict[str, str]) -> str:
    value = r.get("value") if isinstance(r.get("value"), dict) else {}
    for key in (str(r.get("type", "")), "labels"):
        names = value.get(key)
        if isinstance(names, list) and names:
            return str(names[0])
    return labels_by_id.get(str(r.get("id")), "")


def _annotation(task: dict[str, Any]) -> dict[str, Any] | None:
    """The latest annotation not cancelled (the one Label Studio shows), or None."""
    done = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    return max(done, key=lambda a: (str(a.get("updated_at") or ""), a.get("id") or 0), default=None)


def read_task(task: dict[str, Any], where: str, images: Path) -> tuple[ImportedImage | None, list]:
    ref = image_reference(task.get("data") or {})
    if ref is None:
        return None, [skip(where, "has no data.image (nor one image path or URL in data); not imported",
                           "no-image")]  # fmt: skip
    annotation = _annotation(task)
    if annotation is None:
        return None, [skip(where, f"{ref} has no annotation that was not cancelled (not labelled yet); not imported",
                           "not-labelled")]  # fmt: skip
    found = candidates(ref, images)
    path = next((p for p in found if p.is_file()), None)
    if path is None:
        looked = ", ".join(str(p) for p in found)
        return None, [skip(where, f"image {ref} is not found under --images {images} (looked for {looked}); "
                           "not imported", "unreadable-image")]  # fmt: skip
    size = checked_size(path, where)
    if not isinstance(size, tuple):
        return None, [size]
    results = [r for r in annotation.get("result") or [] if isinstance(r, dict)]
    labels_by_id = {str(r.get("id")): _label(r, {}) for r in results if r.get("type") == "labels"}
    shapes = [_region(r, i, _label(r, labels_by_id), size) for i, r in enumerate(results) if r.get("type") != "labels"]
    try:
        file_name = path.resolve().relative_to(images).as_posix()
    except ValueError:
        file_name = str(path.resolve())
    return ImportedImage(file_name, size[0], size[1], where, shapes), []


def read(src: Path, images: Path | None = None) -> Imported:
    """Every task of the export ``src``; images under ``images`` (default: the export's folder)."""
    root = (images or src.parent).resolve()
    try:
        tasks = json.loads(src.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GnrcnnError(f"{src}: not a readable Label Studio JSON export ({type(e).__name__}: {e})") from None
    if not isinstance(tasks, list):
        raise GnrcnnError(f"{src}: not a Label Studio JSON export (a list of tasks); export the project as JSON")
    out, problems = [], []
    for i, task in enumerate(tasks):
        where = f"{src.name}: task {task.get('id', f'#{i}') if isinstance(task, dict) else f'#{i}'}"
        if not isinstance(task, dict):
            problems.append(skip(where, "is not a task object; not imported", "unreadable-file"))
            continue
        img, found = read_task(task, where, root)
        problems += found
        if img is not None:
            out.append(img)
    return Imported(root, out, None, problems)
