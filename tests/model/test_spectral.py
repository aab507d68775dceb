"""The LFM/HFM global spectral filters against an independent NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gsfm.model.spectral import SpectralFilter, frequency_gaussian


def numpy_reference(module: SpectralFilter, x: np.ndarray) -> np.ndarray:
    """The spec, step by step, in float64 NumPy."""
    _, c, h, w = x.shape
    u = np.arange(h)[:, None] - h // 2
    v = np.arange(w)[None, :] - w // 2
    g = np.exp(-(u**2 + v**2) / (2 * module.sigma**2))
    weight = g if module.keep == "high" else 1 - g
    y = np.fft.fft2(x, axes=(-2, -1)) * weight
    z = np.concatenate([y.real, y.imag], axis=1)
    w1 = module.conv1.weight.detach().double().numpy()[:, :, 0, 0]
    b1 = module.conv1.bias.detach().double().numpy()
    w2 = module.conv2.weight.detach().double().numpy()[:, :, 0, 0]
    b2 = module.conv2.bias.detach().double().numpy()
    z = np.maximum(np.einsum("oc,bchw->bohw", w1, z) + b1[None, :, None, None], 0)
    z = np.einsum("oc,bchw->bohw", w2, z) + b2[None, :, None, None]
    spec = z[:, :c] + 1j * z[:, c:]
    return x + np.fft.ifft2(spec, s=(h, w), axes=(-2, -1)).real


@pytest.mark.parametrize("keep", ["low", "high"])
@pytest.mark.parametrize("size", [(6, 9), (16, 16)])
def test_matches_reference(keep: str, size: tuple[int, int]) -> None:
    module = SpectralFilter(4, keep=keep)
    x = torch.randn(2, 4, *size)
    out = module(x).detach().numpy()
    ref = numpy_reference(module, x.double().numpy())
    assert np.allclose(out, ref, atol=1e-4 * np.abs(ref).max())


def test_neutral_filter_returns_input() -> None:
    module = SpectralFilter(8, keep="low")
    torch.nn.init.zeros_(module.conv2.weight)
    torch.nn.init.zeros_(module.conv2.bias)
    x = torch.randn(1, 8, 12, 20)
    assert torch.allclose(module(x), x, atol=1e-6)


def test_filter_receives_gradients() -> None:
    module = SpectralFilter(4, keep="high")
    x = torch.randn(1, 4, 10, 10, requires_grad=True)
    module(x).pow(2).sum().backward()
    for p in module.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert x.grad is not None


def test_gaussian_centred_on_highest_frequency() -> None:
    g = frequency_gaussian(10, 14, 7.0, torch.device("cpu"))
    assert g[5, 7] == 1.0
    assert g.argmax() == 5 * 14 + 7
    assert g[0, 0] < g[5, 0] < g[5, 7]


def test_masks_are_complementary_and_cached() -> None:
    low = SpectralFilter(2, keep="low")
    high = SpectralFilter(2, keep="high")
    a = low.frequency_mask(8, 8, torch.device("cpu"))
    b = high.frequency_mask(8, 8, torch.device("cpu"))
    assert torch.allclose(a + b, torch.ones(8, 8))
    assert low.frequency_mask(8, 8, torch.device("cpu")) is a


def test_lfm_removes_highest_frequency_component() -> None:
    """The Nyquist bin (a checkerboard) gets weight 0 in the LFM; DC keeps ~1 on a large map."""
    module = SpectralFilter(1, keep="low")
    spec_mask = module.frequency_mask(64, 64, torch.device("cpu"))
    assert spec_mask[32, 32] == 0.0
    assert spec_mask[0, 0] > 0.99


def test_bf16_input_keeps_fft_in_fp32() -> None:
    module = SpectralFilter(4, keep="low")
    x = torch.randn(1, 4, 8, 8)
    out32 = module(x)
    out16 = module(x.bfloat16())
    assert out16.dtype == torch.bfloat16
    assert torch.allclose(out16.float(), out32, atol=0.1, rtol=0.05)


def test_autocast_output_is_fp32_as_the_original() -> None:
    """The original casts x to float and adds the fp32 inverse FFT: fp32 out under autocast."""
    module = SpectralFilter(4, keep="high")
    x = torch.randn(1, 4, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(x.bfloat16())
    assert out.dtype == torch.float32
    assert torch.allclose(out, module(x), atol=0.1, rtol=0.05)
