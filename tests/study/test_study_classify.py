"""``gnrcnn study classify`` and ``group-sweep`` at a tiny size: the generated set, the norms each run
builds, the protocol (lr scaled with the batch, same epochs), resume and skip, the table and the plot."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from gnrcnn.data.shapes import SHAPES
from gnrcnn.errors import GnrcnnError
from gnrcnn.study import classify
from gnrcnn.study.classifier import SmallResNet
from gnrcnn.study.classify_plan import norm_of
from gnrcnn.study.shape_crops import make_crops


def test_shape_crops_are_seeded_labelled_and_varied() -> None:
    x, y = make_crops(60, 24, seed=3)
    assert x.shape == (60, 3, 24, 24) and x.dtype == np.uint8 and y.shape == (60,)
    assert set(y.tolist()) == set(range(len(SHAPES)))
    again, _ = make_crops(60, 24, seed=3)
    assert np.array_equal(x, again) and not np.array_equal(x, make_crops(60, 24, seed=4)[0])
    means = x.reshape(60, 3, -1).mean(2)
    assert means.std(0).min() > 20  # the images' colours differ widely: what small-batch statistics miss
    with pytest.raises(GnrcnnError, match="distinct classes"):
        make_crops(4, 24, classes=("circle", "blob"))


@pytest.mark.parametrize(("spec", "groups"), [("bn", None), ("gn", [4, 4]), ("ln", [1, 1]), ("in", [8, 16]),
                                              ("gn_g2", [2, 2]), ("gn_c4", [2, 4])])  # fmt: skip
def test_each_norm_spec_builds_its_layers(spec: str, groups: list[int] | None) -> None:
    model = SmallResNet(num_classes=6, norm=norm_of(spec, 4), widths=(8, 16), blocks=(1, 1))
    norms = [m for m in model.modules() if isinstance(m, (nn.GroupNorm, nn.BatchNorm2d))]
    if groups is None:
        assert norms and all(isinstance(m, nn.BatchNorm2d) for m in norms)
    else:
        assert sorted({(m.num_channels, m.num_groups) for m in norms}) == list(zip((8, 16), groups))
    assert model(torch.zeros(2, 3, 16, 16)).shape == (2, 6)


def test_tiny_classify_study_resumes_and_skips(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from gnrcnn.cli import main

    out2 = tmp_path / "c2"
    argv = ["study", "classify", "--quick", "--out", str(out2), "--norms", "bn", "gn"]
    assert main(argv) == 0
    (out2 / "runs" / "gn_b4_s1.json").unlink()  # a run that was stopped: only it trains again
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("(training)") == 9 and printed.count("done, skipped") == 7
    summary = json.loads((out2 / "study.json").read_text())
    runs = {(r["norm"], r["batch"], r["seed"]): r for r in summary["runs"]}
    assert len(runs) == 8 and all(0 <= r["error"] <= 100 for r in runs.values())
    assert runs[("bn", 4, 0)]["lr"] == pytest.approx(runs[("bn", 8, 0)]["lr"] / 2)  # lr scaled with the batch
    assert runs[("bn", 4, 0)]["steps"] == 2 * runs[("bn", 8, 0)]["steps"]  # the same epochs
    assert "error_batch_stats" in runs[("bn", 4, 0)] and "error_batch_stats" not in runs[("gn", 4, 0)]
    table = (out2 / "study.md").read_text()
    assert table.count(" (") >= 4 and "| BN |" in table and "| GN (G = 4: 2/4 channels per group by stage) |" in table
    assert cv2.imread(str(out2 / "study.png")) is not None
    assert main([*argv, "--epochs", "2"]) == 2  # the same folder with another plan: refused, nothing mixed
    assert "holds a study with another plan (epochs: 1 -> 2)" in capsys.readouterr().err


def test_tiny_group_sweep(tmp_path: Path) -> None:
    from gnrcnn.cli import main

    assert main(["study", "group-sweep", "--quick", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "study.md").read_text()
    assert "GN, G = 1 (LN)" in table and "GN, 1 channel(s) per group (IN)" in table
    assert cv2.imread(str(tmp_path / "study.png")) is not None
    with pytest.raises(GnrcnnError, match="does not fit widths"):
        classify.ClassifyPlan(norms=("gn_g3",), widths=(8, 16), blocks=(1, 1)).check()


def test_study_help_lists_every_study(capsys: pytest.CaptureFixture) -> None:
    from gnrcnn.cli import main

    with pytest.raises(SystemExit):
        main(["study", "--help"])
    printed = capsys.readouterr().out
    assert all(name in printed for name in ("norm-vs-batch", "classify", "group-sweep", "detect-pretrained", "all"))
