"""The non-finite loss guard: a NaN or inf loss on any rank stops training on every rank, with one line
naming the loss, the iteration and the images of the batch (the last good checkpoint stays as it was)."""

from __future__ import annotations

from pathlib import Path

import torch

from .. import distributed as dist
from ..errors import GnrcnnError


def check_finite(
    losses: dict[str, torch.Tensor], image_ids: list[int], iteration: int, last_checkpoint: Path | None,
    device: torch.device,
) -> None:  # fmt: skip
    """Raise ``GnrcnnError`` on every rank if any rank's ``losses`` are not all finite."""
    finite = bool(torch.isfinite(torch.stack([v.detach().float() for v in losses.values()])).all())
    if dist.all_true(finite, device):
        return
    bad = {k: float(v.detach()) for k, v in losses.items() if not torch.isfinite(v)}
    info = dist.gather_objects((bad, image_ids))
    names = "; ".join(f"{k} = {v}" for b, _ in info for k, v in b.items())  # type: ignore[union-attr]
    ids = [i for b, im in info for i in im if b]  # type: ignore[union-attr]
    keep = f"the last good checkpoint is {last_checkpoint}" if last_checkpoint else "no checkpoint yet"
    raise GnrcnnError(f"non-finite loss at iteration {iteration}: {names} (image ids {ids}); "
                      f"training stopped, {keep}")  # fmt: skip
