"""The speed paths compute what the plain operators compute."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from gnrcnn.modeling.gn_saved_output import group_norm_saved_output
from gnrcnn.modeling.roi_align_sparse import roi_align_sparse
from gnrcnn.modeling.roi_pooler import MultiScaleRoIAlign


def _rois(n_img: int, r: int, w: float, h: float, g: torch.Generator) -> torch.Tensor:
    xy = torch.rand(r, 2, generator=g) * torch.tensor([w, h]) - 10  # some start outside the map
    wh = torch.rand(r, 2, generator=g) * torch.tensor([w, h]) * 0.4 + 0.5
    return torch.cat([torch.randint(0, n_img, (r, 1), generator=g).float(), xy, xy + wh], 1)


@pytest.mark.parametrize(("out", "scale"), [(7, 0.25), (14, 0.125)])
def test_sparse_roi_align_matches_torchvision(out: int, scale: float) -> None:
    g = torch.Generator().manual_seed(0)
    feat = torch.randn(2, 32, 40, 56, generator=g)
    rois = _rois(2, 60, 56 / scale, 40 / scale, g)
    a_in, b_in = feat.clone().requires_grad_(), feat.clone().contiguous(memory_format=torch.channels_last)
    b_in.requires_grad_()
    a = roi_align(a_in, rois, out, scale, 0, True)
    b = roi_align_sparse(b_in, rois, out, scale)
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
    grad = torch.randn(a.shape, generator=g)
    a.backward(grad)
    b.backward(grad)
    torch.testing.assert_close(b_in.grad, a_in.grad, rtol=1e-5, atol=1e-5)


def test_threaded_pooling_is_bit_identical() -> None:
    g = torch.Generator().manual_seed(1)
    feats = [torch.randn(2, 16, 64 // 2**i, 96 // 2**i, generator=g) for i in range(4)]
    rois = _rois(2, 400, 384, 256, g)
    pooler = MultiScaleRoIAlign(output_size=7, strides=[4, 8, 16, 32])
    with torch.inference_mode():
        threaded = pooler(feats, rois)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one chunk per level: the plain calls
        try:
            plain = pooler(feats, rois)
        finally:
            torch.set_num_threads(threads)
    assert torch.equal(threaded, plain)


def test_channels_last_pooling_takes_the_sparse_product_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    from gnrcnn.modeling import roi_pooler

    g = torch.Generator().manual_seed(3)
    feats = [torch.randn(2, 16, 64 // 2**i, 96 // 2**i, generator=g) for i in range(4)]
    rois = torch.cat([_rois(2, 300, 384, 256, g), torch.tensor([[1.0, 0.0, 100.0, 383.0, 104.0]])])  # long, thin
    pooler = MultiScaleRoIAlign(output_size=7, strides=[4, 8, 16, 32])
    calls: list[int] = []
    sparse = roi_pooler.roi_align_sparse
    monkeypatch.setattr(roi_pooler, "roi_align_sparse", lambda f, r, *a: calls.append(len(r)) or sparse(f, r, *a))
    monkeypatch.setattr(roi_pooler, "SPARSE_BUDGET", 49 * 4 * 40)  # about 40 RoIs of a 2 x 2 grid per matrix
    with torch.inference_mode():
        want = pooler(feats, rois)  # channels-first: torchvision
        assert not calls
        bf16 = [f.to(torch.bfloat16, memory_format=torch.channels_last) for f in feats]
        got = pooler([f.contiguous(memory_format=torch.channels_last) for f in feats], rois)
        got_bf16 = pooler(bf16, rois)  # bf16 inference: converted to fp32 once, in its own layout
    assert sum(calls) == 2 * len(rois) and len(calls) > 8  # every RoI once per call, in many small matrices
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    with torch.inference_mode():  # the same maps in fp32, channels-first: torchvision
        want_bf16 = pooler([f.float().contiguous() for f in bf16], rois)
    assert got_bf16.dtype == torch.bfloat16  # the output keeps the maps' precision
    torch.testing.assert_close(got_bf16.float(), want_bf16.to(torch.bfloat16).float(), rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_group_norm_keeping_its_output_has_the_same_gradients(memory_format: torch.memory_format) -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 64, 12, 20, generator=g).contiguous(memory_format=memory_format)
    w, b = torch.rand(64, generator=g) + 0.5, torch.randn(64, generator=g)
    grad = torch.randn(x.shape, generator=g)
    outs = []
    for fn in (F.group_norm, group_norm_saved_output):
        xi, wi, bi = (t.clone().requires_grad_() for t in (x, w, b))
        y = fn(xi, wi, bi, 32, 1e-5) if fn is group_norm_saved_output else fn(xi, 32, wi, bi, 1e-5)
        y.backward(grad)
        outs.append((y.detach(), xi.grad, wi.grad, bi.grad))
    for a, c in zip(*outs):
        torch.testing.assert_close(c, a, rtol=1e-4, atol=1e-5)
