"""A work dir is claimed before any work: a used one is refused or cleared (--overwrite), a read-only one is
refused in one line, ``latest`` always names a checkpoint that exists, and ``--resume`` says which checkpoint
it passed over and which it took. A full disk during a checkpoint keeps the previous one, and --resume goes on
once space is freed (docs/reliability.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from faults import fill, tmpfs
from gnrcnn import GnrcnnError, train_model
from gnrcnn.train import checkpoint as ckpt

from conftest import TINY


def _train(shapes8: Path, work: Path, iters: int, **kw) -> object:
    return train_model(TINY, data_root=shapes8, ann=shapes8 / "annotations" / "train.json", work_dir=work,
                       max_iters=iters, device="cpu", overrides=["train.checkpoint_every_iters=2"], **kw)  # fmt: skip


def _latest_exists(work: Path) -> bool:
    return (work / (work / ckpt.LATEST).read_text().strip()).is_file()


def test_a_used_work_dir_is_refused_and_cleared_with_overwrite(shapes8: Path, tmp_path: Path) -> None:
    """The walk that once lost a run's checkpoint: 4 iterations, then 2 in the same folder."""
    work = tmp_path / "wd"
    _train(shapes8, work, 4)
    assert _latest_exists(work)
    before = sorted(p.name for p in work.iterdir())
    with pytest.raises(GnrcnnError, match=r"--work-dir .*wd holds another run's files \(.*\): add --resume .* "
                       r"choose another --work-dir, or add --overwrite"):  # fmt: skip
        _train(shapes8, work, 2)
    assert sorted(p.name for p in work.iterdir()) == before  # nothing touched
    (work / "notes.txt").write_text("mine")
    result = _train(shapes8, work, 2, overwrite=True)
    assert result.iteration == 2 and _latest_exists(work)
    assert [p.name for p in ckpt.list_checkpoints(work)] == ["iter_00000002.pth"]  # the old run's 4 gone
    assert (work / "notes.txt").read_text() == "mine"  # the user's own file stays
    found = ckpt.load_for_resume(work)
    assert found is not None and found[1]["iteration"] == 2


def test_retention_never_deletes_the_checkpoint_latest_names(tmp_path: Path) -> None:
    for it in (10, 12):  # higher-numbered files of another run, as a copy or an old version left them
        ckpt.save(tmp_path, it, {"iteration": it}, keep=2)
    ckpt.save(tmp_path, 2, {"iteration": 2}, keep=2)
    assert _latest_exists(tmp_path) and (tmp_path / "iter_00000002.pth").is_file()


@pytest.mark.parametrize("damage", ["missing", "zero bytes"])
def test_resume_passes_over_a_missing_or_empty_latest_and_names_what_it_took(shapes8: Path, tmp_path: Path,
                                                                             damage: str) -> None:  # fmt: skip
    _train(shapes8, tmp_path, 4)
    latest = tmp_path / "iter_00000004.pth"
    latest.unlink() if damage == "missing" else latest.write_bytes(b"")  # a power loss after the rename
    why = "missing" if damage == "missing" else "weights file is empty"
    with pytest.warns(UserWarning, match=rf"cannot resume from .*iter_00000004.pth \({why}.*: resuming from "
                      r".*iter_00000002.pth"):  # fmt: skip
        result = _train(shapes8, tmp_path, 4, resume=True)
    assert result.iteration == 4 and _latest_exists(tmp_path)


def test_a_read_only_work_dir_is_refused_before_any_work(shapes8: Path, tmp_path: Path) -> None:
    with (tmpfs(tmp_path / "ro", 4, read_only=True) as ro,
          pytest.raises(GnrcnnError, match=r"ro/run: cannot write here \(Read-only file system\)")):  # fmt: skip
        _train(shapes8, ro / "run", 2)


def test_a_full_disk_during_a_checkpoint_keeps_the_last_one_and_resume_goes_on(shapes8: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", 400) as disk:  # a tiny model's checkpoint with its optimizer is ~100 MB
        work = disk / "run"
        _train(shapes8, work, 4, stop_at=2)
        good = (work / "iter_00000002.pth").read_bytes()
        filler = fill(disk, leave_bytes=20 << 20)  # room for logs, not for the next checkpoint
        with pytest.raises(GnrcnnError, match=r"iter_00000004.pth: cannot write checkpoint \(No space left on "
                           r"device\); the previous one is untouched"):  # fmt: skip
            _train(shapes8, work, 4, resume=True)
        assert (work / "iter_00000002.pth").read_bytes() == good and _latest_exists(work)
        assert not list(work.glob(".*.tmp"))  # no torn temporary left to fill the disk further
        filler.unlink()
        result = _train(shapes8, work, 4, resume=True)
        assert result.iteration == 4 and (work / "model_final.pth").is_file()
    shutil.rmtree(tmp_path / "disk", ignore_errors=True)
