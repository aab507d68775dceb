"""The LFM/HFM with their 2-D FFTs written as matrix products, for export.

onnxruntime's CPU DFT kernel is a plain O(n^2) loop per row for sizes that are not powers of
two (frame sizes seldom are): measured on the sample clip, the exported gsfm-tiny decoder ran
4x slower than PyTorch because of the HFM's FFTs at stride 4. The same transform as two
products with cos/sin matrices runs on the GEMM kernels instead. The matrices are built in the
graph from the feature size (any H, W), with k*j reduced mod n before scaling so the angles
stay exact in fp32. Same maths as `SpectralFilter.forward` (tests compare with torch.fft).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gsfm.model.spectral import SpectralFilter


def dft_matrices(n: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """cos and sin of 2 pi k j / n, [n, n] each (the DFT matrix is cos - i sin)."""
    k = torch.arange(n, device=device, dtype=torch.int64)
    # n as a one-element tensor: the exporter cannot take a symbolic size as a scalar operand.
    size = k[-1:] + 1
    phase = torch.remainder(k[:, None] * k[None, :], size)
    angle = phase.to(torch.float32) * (2 * math.pi) / size.to(torch.float32)
    return torch.cos(angle), torch.sin(angle)


class MatmulSpectralFilter(nn.Module):
    """`SpectralFilter` (same parameters, same output) with matmul DFTs."""

    def __init__(self, original: SpectralFilter) -> None:
        super().__init__()
        self.original = original

    def forward(self, x: Tensor) -> Tensor:
        f = self.original
        height, width = x.shape[-2:]
        xf = x.float()
        ch, sh = dft_matrices(height, x.device)
        cw, sw = dft_matrices(width, x.device)
        # fft2 of a real x: (C_h - i S_h) x (C_w - i S_w)
        real = ch @ xf @ cw - sh @ xf @ sw
        imag = -(sh @ xf @ cw + ch @ xf @ sw)
        mask = f.frequency_mask(height, width, x.device)
        z = torch.cat([real * mask, imag * mask], dim=1)
        z = f.conv2(torch.relu(f.conv1(z.to(f.conv1.weight.dtype)))).float()
        r, i = z.chunk(2, dim=1)
        # real part of ifft2: ((C_h + i S_h)(r + i i)(C_w + i S_w)).real / (h w)
        a = ch @ r - sh @ i
        b = sh @ r + ch @ i
        out = (a @ cw - b @ sw) / (height * width)
        return x + out.to(x.dtype)


def use_matmul_dft(network: nn.Module) -> int:
    """Replace every SpectralFilter in `network` by its matmul form; returns how many."""
    targets = [
        (parent, name, child)
        for parent in network.modules()
        for name, child in parent.named_children()
        if isinstance(child, SpectralFilter)
    ]
    for parent, name, child in targets:
        setattr(parent, name, MatmulSpectralFilter(child))
    return len(targets)
