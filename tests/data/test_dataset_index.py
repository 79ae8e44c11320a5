"""The dataset index: the fast path (msgspec + array checks) gives the general path's index and problems,
entry for entry, on a corpus of broken entries; records come back as the JSON had them."""

from __future__ import annotations

import json
import random
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from gnrcnn.data.coco import CocoDataset, categories, read_index, read_json
from gnrcnn.data.coco_legacy import build_index_general
from gnrcnn.data.coco_schema import decode_fast
from gnrcnn.data.index import DatasetIndex


def _base() -> dict:
    rng = np.random.default_rng(0)
    images = [{"id": i, "file_name": f"im{i}.jpg", "width": 64 + 8 * (i % 3), "height": 48} for i in range(1, 13)]
    anns = []
    for im in images:
        for _ in range(3):
            x, y = float(rng.uniform(0, 30)), float(rng.uniform(0, 20))
            poly = [x, y, x + 10, y, x + 10, y + 12, x, y + 12.5]
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": int(rng.integers(1, 4)),
                         "bbox": [x, y, 10, 12.5], "area": 125.0, "iscrowd": 0, "segmentation": [poly]})  # fmt: skip
    cats = [{"id": c, "name": f"c{c}"} for c in (1, 2, 3)]
    return {"images": images, "annotations": anns, "categories": cats}


RLE = {"size": [48, 64], "counts": "PPYo0"}


def _broken(d: dict) -> None:
    """One of each problem the typed path must find by itself (every value here has the expected type)."""
    im, a = d["images"], d["annotations"]
    im.append(dict(im[0], file_name="again.jpg"))  # duplicate image id
    im.append({"id": 90, "file_name": "", "width": 5, "height": 5})
    im.append({"id": 91, "file_name": "flat.jpg", "width": 0, "height": 5})
    im.append({"id": 92, "file_name": "empty.jpg", "width": 64, "height": 48})  # no annotation: a negative
    a[1]["id"] = a[0]["id"]  # duplicate annotation id
    a[2]["image_id"] = 999
    a[3]["image_id"] = 91  # an image entry that was dropped
    a[4]["iscrowd"] = 1
    a[5]["category_id"] = 77
    a[6]["bbox"] = [1, 2, 0.5, 5]
    a[7]["area"] = 0
    del a[8]["area"]
    a[9]["bbox"] = [100, 100, 5, 5]
    a[10]["segmentation"] = [[1, 2, 3, 4]]
    a[11]["segmentation"] = [[1, 2, 3, 4, 5, 6, 7], a[11]["segmentation"][0]]
    a[12]["segmentation"] = dict(RLE)
    a[13]["segmentation"] = {"size": [10, 10], "counts": "PPYo0"}
    a[14]["segmentation"] = None
    del a[15]["segmentation"]
    a[16]["segmentation"] = "polygon"
    a[17]["segmentation"] = []
    a[18]["id"] = None
    a[19]["iscrowd"] = True
    a[20]["segmentation"] = [[1, 2, 3, 4, 5, 6], [1, 2, True, 4, 5, 6]]
    a[21]["bbox"] = [0, 0, 64, 48]
    for k in (22, 23):  # every annotation of image 8 dropped: not a negative
        a[k]["iscrowd"] = 1
    a[24]["image_id"] = 92.5


def _both(tmp_path: Path, d: dict, need_masks: bool) -> tuple[tuple, tuple]:
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(d))
    fast = read_index(path, need_masks)
    data = read_json(path)
    ids, _ = categories(data["categories"], str(path))
    general = build_index_general(data, {c: i for i, c in enumerate(ids)}, str(path), need_masks)
    return fast[2:], general


def _same_index(a: DatasetIndex, b: DatasetIndex, storage: bool = True) -> None:
    """The same arrays; with ``storage=False`` the same images and annotations, however the polygons are laid out."""
    per_item = ("image_id", "width", "height", "name_off", "names", "ann_off", "boxes", "labels", "ann_ids", "seg_len")
    for f in fields(a):
        if storage or f.name in per_item:
            x, y = getattr(a, f.name), getattr(b, f.name)
            assert x.dtype == y.dtype and np.array_equal(x, y), f.name
    for i in range(len(a)):
        assert a.record(i, Path()).segms == b.record(i, Path()).segms


@pytest.mark.parametrize("need_masks", [True, False])
def test_fast_path_finds_what_the_general_path_finds(tmp_path: Path, need_masks: bool) -> None:
    d = _base()
    _broken(d)
    d["annotations"][24]["image_id"] = 92  # a float image id is for the general path alone (below)
    assert decode_fast(json.dumps(d).encode()) is not None
    (index, problems, referred, crowd), (g_index, g_problems, g_referred, g_crowd) = _both(tmp_path, d, need_masks)
    assert [str(p) for p in problems] == [str(p) for p in g_problems]
    assert len(problems) >= 18 if need_masks else len(problems) >= 10
    _same_index(index, g_index, storage=False)
    assert set(referred.tolist()) == set(g_referred.tolist())
    assert crowd == g_crowd == 4


def test_no_usable_image_at_all(tmp_path: Path) -> None:
    d = _base()
    d["images"] = [{"id": 1, "file_name": "", "width": 5, "height": 5}]
    (index, problems, _, _), (g_index, g_problems, _, _) = _both(tmp_path, d, True)
    assert [str(p) for p in problems] == [str(p) for p in g_problems] and len(problems) == 37
    _same_index(index, g_index, storage=False)


def test_a_file_the_fast_path_declines_gives_the_same_dataset(tmp_path: Path) -> None:
    d = _base()
    _broken(d)
    d["annotations"][25]["bbox"] = [1, 2, 3]
    d["annotations"][26]["id"] = "x"
    assert decode_fast(json.dumps(d).encode()) is None
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(d))
    ds = CocoDataset(path, tmp_path, check_files=False)
    lines = [str(p) for p in ds.problems]
    assert any("annotation 26 (image 9, im9.jpg): bbox must be 4 numbers" in line for line in lines)
    assert any("annotation 25: refers to image 92.5, which is not in 'images'" in line for line in lines)
    assert -1 in next(r for r in ds.records if r.image_id == 9).ann_ids  # the string id kept as "no id"


def test_records_hold_the_json_values(tmp_path: Path) -> None:
    d = _base()
    d["annotations"][6]["segmentation"] = dict(RLE)  # image 3: 64 x 48
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(d))
    ds = CocoDataset(path, tmp_path, check_files=False)
    assert len(ds) == 12 and ds.num_instances == 36 and ds.class_names == ["c1", "c2", "c3"]
    by_id = {a["id"]: a for a in d["annotations"]}
    for rec in ds.records:
        assert rec.path == tmp_path / rec.file_name and rec.labels.dtype == np.int64
        for box, label, segm, ann_id in zip(rec.boxes, rec.labels, rec.segms, rec.ann_ids):
            a = by_id[ann_id]
            x, y, w, h = np.float32(a["bbox"])
            assert box.tolist() == [x, y, x + w, y + h] and label == a["category_id"] - 1
            assert segm == a["segmentation"]
    ds2 = CocoDataset(path, tmp_path, check_files=False)
    ds.index.save(tmp_path / "index")
    loaded = DatasetIndex.load(tmp_path / "index")
    _same_index(loaded, ds2.index)
    assert isinstance(loaded.coords, np.memmap)


def test_ranks_of_one_machine_map_the_first_ranks_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gnrcnn.data import shared_index

    d = _base()
    _broken(d)
    d["annotations"][24]["image_id"] = 92
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(d))
    monkeypatch.setenv("GNRCNN_INDEX_DIR", str(tmp_path / "cache"))
    calls = []
    first = shared_index.read_shared(path, tmp_path, train=True, keep_empty=True, first_on_machine=True,
                                     barrier=lambda: calls.append(1))  # fmt: skip
    other = shared_index.read_shared(path, tmp_path, train=True, keep_empty=True, first_on_machine=False,
                                     barrier=lambda: calls.append(1))  # fmt: skip
    direct = CocoDataset(path, tmp_path, keep_empty=True)
    assert calls == [1, 1]
    for ds in (first, other):
        assert isinstance(ds.index.coords, np.memmap)  # mapped from the one folder, not a private copy
        assert [str(p) for p in ds.problems] == [str(p) for p in direct.problems]
        assert (ds.category_ids, ds.class_names, ds.num_empty) == (direct.category_ids, direct.class_names,
                                                                   direct.num_empty)  # fmt: skip
        assert ds.num_crowd == direct.num_crowd == 4 and ds.left_out == direct.left_out
        _same_index(ds.index, direct.index, storage=False)
    assert len(list((tmp_path / "cache").iterdir())) == 1
    path.write_text(json.dumps(_base()))  # a changed file is read again, into a folder of its own
    changed = shared_index.read_shared(path, tmp_path, train=True, keep_empty=True, first_on_machine=True,
                                       barrier=lambda: None)  # fmt: skip
    assert {p.kind for p in changed.problems} == {"missing-file"}  # no image files here: only those
    assert len(list((tmp_path / "cache").iterdir())) == 2


def _mutate(d: dict, rng: random.Random) -> None:
    """A few random edits, each of a type the fast path reads (it must judge the values itself)."""
    numbers = [0, 1, -1, 2.5, 1e9, 64, 48, 0.5, 100, 3]
    segms = [[[1, 2, 3, 4, 5, 6]], [[1, 2, 3]], [], [[1, 2, 3, 4, 5, 6, 7, 8], [1]], dict(RLE),
             {"size": [48, 72], "counts": "x"}, None, {"counts": "a"}, [[1, 1, 2, 2, 3, 3]],
             [[5, 5, 5, 5, 5, 5], [1, 2, 3, 4, 5, 7]], [[50, 30, 60, 30, 60, 45]]]  # fmt: skip
    for _ in range(rng.randint(1, 6)):
        a, im, k = rng.choice(d["annotations"]), rng.choice(d["images"]), rng.random()
        if k < 0.2:
            a[rng.choice(["id", "image_id", "category_id", "iscrowd"])] = rng.choice([0, 1, 2, 3, 5, 13, 77, 999])
        elif k < 0.3:
            a["area"] = rng.choice(numbers)
        elif k < 0.5:
            a["bbox"][rng.randrange(4)] = rng.choice(numbers)
        elif k < 0.7:
            a["segmentation"] = rng.choice(segms)
        elif k < 0.85:
            im[rng.choice(["id", "width", "height"])] = rng.choice([0, 1, 2, 5, 64, -3])
        else:
            d["images"].append(dict(im))


def test_random_edits_give_the_general_paths_outcome(tmp_path: Path) -> None:
    rng = random.Random(0)
    for _ in range(40):
        d = _base()
        _mutate(d, rng)
        assert decode_fast(json.dumps(d).encode()) is not None
        for need_masks in (True, False):
            (index, problems, referred, crowd), (g_index, g_problems, g_referred, g_crowd) = _both(
                tmp_path, d, need_masks
            )
            assert [str(p) for p in problems] == [str(p) for p in g_problems]
            _same_index(index, g_index, storage=False)
            assert set(referred.tolist()) == set(g_referred.tolist()) and crowd == g_crowd


def _geometry(d: dict) -> None:
    """Zero-area polygons and boxes that disagree with their polygons (polygon lists only: the fast path reads
    them a chunk at a time, not annotation by annotation)."""
    a = d["annotations"]

    def box(k: int) -> tuple[float, float]:
        return a[k]["bbox"][0], a[k]["bbox"][1]

    x, y = box(0)
    a[0]["segmentation"] = [[x, y, x + 5, y + 6.25, x + 10, y + 12.5]]  # on the box's diagonal
    x, y = box(1)
    a[1]["segmentation"] = [[x, y, x, y, x, y], [x, y, x, y, x + 10, y, x + 10, y + 12.5]]  # a point; a triangle
    a[2]["segmentation"] = [[60, 40, 63, 40, 63, 47]]  # away from its box
    x, y = box(3)
    a[3]["segmentation"] = [[x, y, x + 5, y, x + 5, y + 12.5, x, y + 12.5]]  # half its box: IoU 0.5, kept
    x, y = box(4)
    a[4]["segmentation"] = [[x, y, x + 4.9, y, x + 4.9, y + 12.5, x, y + 12.5]]  # IoU 0.49: dropped
    x, y = box(5)
    a[5]["segmentation"] = [[x, y, x + 10, y + 12.5, x + 10, y, x, y + 12.5]]  # a bow tie: signed area 0, kept
    x, y = box(6)
    a[6]["segmentation"] = [[1, 2, 3], [x, y, x + 5, y + 6.25, x + 10, y + 12.5 + 1e-8],  # collinear within 1e-9
                            [x, y, x + 10, y, x + 10, y + 12.5, x, y + 12.5]]  # fmt: skip
    a[7]["segmentation"] = [[0, 0, 1, 1, 2, 2], [60, 40, 63, 40, 63, 47]]  # not all zero-area: the extent decides
    x, y = box(8)
    a[8]["segmentation"] = [[x, y, x + 10, y, x + 10, y + 12.5], [x, y, x + 1, y + 1, x + 2, y + 2.000001]]
    for k in (9, 10):
        a[k]["iscrowd"] = 1


@pytest.mark.parametrize("chunk", [2, 20_000])
def test_zero_area_and_mismatched_polygons_alike_in_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               chunk: int) -> None:  # fmt: skip
    from gnrcnn.data import index_polygons

    monkeypatch.setattr(index_polygons, "CHUNK", chunk)  # chunk boundaries between the edited annotations
    d = _base()
    _geometry(d)
    (index, problems, _, crowd), (g_index, g_problems, _, g_crowd) = _both(tmp_path, d, True)
    lines = [str(p) for p in problems]
    assert lines == [str(p) for p in g_problems]
    _same_index(index, g_index, storage=False)
    assert [p.kind for p in problems] == ["zero-area-polygon", "bad-polygon", "box-polygon-mismatch",
                                          "box-polygon-mismatch", "bad-polygon", "box-polygon-mismatch"]  # fmt: skip
    assert "annotation 2 (image 1, im1.jpg): 1 malformed or zero-area polygon(s) dropped" in lines[1]
    assert "annotation 5 (image 2, im2.jpg): bbox" in lines[3] and "(IoU 0.49 < 0.5); dropped" in lines[3]
    assert "annotation 7 (image 3, im3.jpg): 2 malformed or zero-area polygon(s) dropped" in lines[4]
    assert crowd == g_crowd == 2
    ds = CocoDataset(tmp_path / "ann.json", tmp_path, check_files=False)
    assert ds.num_crowd == 2 and ds.num_instances == 36 - 2 - 4  # crowd; zero-area, and 3 mismatches
