"""The stem's inference paths (channels-last convolution, separable max pooling) give the
bits of the plain PyTorch operations; training keeps the plain operations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gsfm.model.backbone import StemConv, StemPool, separable_max_pool


@pytest.mark.parametrize("shape", [(1, 32, 240, 320), (2, 5, 17, 9), (1, 3, 1, 1), (3, 2, 31, 64)])
def test_separable_pool_is_max_pool(shape):
    x = torch.randn(*shape)
    x[..., 0, 0] = float("-inf")
    assert torch.equal(separable_max_pool(x), F.max_pool2d(x, 3, stride=2, padding=1))
    bf = x.bfloat16()
    assert torch.equal(separable_max_pool(bf), F.max_pool2d(bf, 3, stride=2, padding=1))


def test_stem_pool_and_conv_equal_the_plain_modules_under_inference_mode():
    torch.manual_seed(0)
    conv, pool = StemConv(3, 8, 7, stride=2, padding=3), StemPool()
    plain = torch.nn.Conv2d(3, 8, 7, stride=2, padding=3)
    plain.load_state_dict(conv.state_dict())  # same parameters, same names
    x = torch.randn(1, 3, 96, 130)
    with torch.inference_mode():
        y = conv(x)
        assert y.is_contiguous()  # the usual layout comes back
        assert torch.equal(y, plain(x))
        assert torch.equal(pool(y), F.max_pool2d(y, 3, stride=2, padding=1))


def test_training_uses_the_plain_operations(monkeypatch):
    """With autograd on, max_pool2d's gradient (one winner per window) and the plain
    convolution are what train."""
    calls = []
    monkeypatch.setattr(
        "gsfm.model.backbone.separable_max_pool", lambda x: calls.append(x) or x[..., ::2, ::2]
    )
    x = torch.randn(1, 2, 8, 8, requires_grad=True)
    StemPool()(x).sum().backward()
    assert calls == [] and x.grad.sum() == 2 * 16  # 2 channels x 16 windows, 1 winner each
    with torch.inference_mode():
        StemPool()(torch.randn(1, 2, 8, 8))
    assert len(calls) == 1
