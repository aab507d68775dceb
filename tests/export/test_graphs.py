"""The exported graphs against the PyTorch network, at frame sizes and object counts other
than the ones they were traced with (the dynamic axes really are dynamic)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from gsfm.export.dft import MatmulSpectralFilter, dft_matrices, use_matmul_dft
from gsfm.export.runtime import OnnxNetwork
from gsfm.model.spectral import SpectralFilter
from tests.reference import decode_reference

TOL = 1e-4
# Two unequal frame sizes, both unlike the trace size (64x96), one taller than wide.
SIZES = [(48, 80), (96, 32)]


def close(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest difference relative to the reference's scale (features are not in [0, 1])."""
    return float((a - b).abs().max() / b.abs().max().clamp_min(1.0))


@pytest.mark.parametrize("objects", [1, 3])
@pytest.mark.parametrize("size", SIZES)
def test_three_graphs_match_pytorch(tiny_export, tiny_network, size, objects):
    onnx = OnnxNetwork(tiny_export.folder)
    net = tiny_network
    h, w = size
    gen = torch.Generator().manual_seed(h * 100 + objects)
    frame = torch.randn(1, 3, h, w, generator=gen)
    masks = torch.rand(1, objects, h, w, generator=gen)
    with torch.inference_mode():
        ref = net.encode_key(frame)
        got = onnx.encode_key(frame)
        for name, a, b in zip(ref._fields, got, ref):
            assert a.shape == b.shape, name
            assert close(a, b) < TOL, name
        values = onnx.encode_value(frame, ref.f16, masks)
        ref_values = net.encode_value(frame, ref.f16, masks)
        assert values.shape == (1, objects, net.config.value_dim, h // 16, w // 16)
        assert close(values, ref_values) < TOL
        readout = torch.randn(1, objects, net.config.value_dim, h // 16, w // 16, generator=gen)
        logits, none = onnx.decode(readout, ref.value, ref.f8, ref.f4)
        ref_logits = decode_reference(net, readout, ref.value, ref.f8, ref.f4)
        assert none is None
        assert logits.shape == (1, objects, h, w)
        assert close(logits, ref_logits) < TOL


def test_frame_not_a_multiple_of_16_is_refused(tiny_export):
    from gsfm.errors import InputError

    with pytest.raises(InputError, match="multiples of 16"):
        OnnxNetwork(tiny_export.folder).encode_key(torch.zeros(1, 3, 40, 64))


@pytest.mark.parametrize("n", [1, 5, 27, 60])
def test_dft_matrices_are_the_dft(n):
    """cos - i sin equals numpy's FFT of the identity (the DFT matrix)."""
    c, s = dft_matrices(n, torch.device("cpu"))
    expected = np.fft.fft(np.eye(n))
    assert np.abs(c.numpy() - expected.real).max() < 1e-5
    assert np.abs(-s.numpy() - expected.imag).max() < 1e-5


@pytest.mark.parametrize("keep", ["low", "high"])
@pytest.mark.parametrize("size", [(15, 27), (60, 108), (4, 6), (1, 1)])
def test_matmul_filter_equals_fft_filter(keep, size):
    torch.manual_seed(1)
    f = SpectralFilter(8, keep).eval()
    x = 3 * torch.randn(2, 8, *size)
    with torch.no_grad():
        a, b = f(x), MatmulSpectralFilter(f)(x)
    assert close(b, a) < 1e-5


def test_export_copy_leaves_the_network_alone(tiny_network):
    """Swapping in the matmul filters acts on the copy it is given, with the same output."""
    net = copy.deepcopy(tiny_network)
    swapped = copy.deepcopy(net)
    assert use_matmul_dft(swapped) == 2  # the LFM and the HFM
    assert isinstance(net.lfm, SpectralFilter) and isinstance(net.decoder.hfm, SpectralFilter)
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        a, b = net.encode_key(x), swapped.encode_key(x)
    assert close(b.f16, a.f16) < 1e-5


def test_tracing_does_not_fill_the_mask_cache():
    """torch.export with symbolic sizes neither fails on the cache nor leaves traced masks."""
    from torch.export import Dim

    f = SpectralFilter(4, "high").eval()
    dims = {"x": {2: Dim("h", min=2, max=64), 3: Dim("w", min=2, max=64)}}
    torch.export.export(f, (torch.randn(1, 4, 8, 12),), dynamic_shapes=dims)
    assert f._masks == {}
    f(torch.randn(1, 4, 8, 12))
    assert list(f._masks) == [(8, 12, "cpu")]
