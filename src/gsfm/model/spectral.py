"""GSFM's global spectral filters: the Low- and High-Frequency Modules.

Both modules take the 2D FFT of a feature map, weight it with a fixed Gaussian centred on the
highest frequencies of the unshifted spectrum, mix real and imaginary channels with a learnable
1x1 filter shared over all frequencies, go back with the inverse FFT (real part) and add the
result to the input. The LFM uses (1 - g), keeping low frequencies; the HFM uses g.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SIGMA = 7.0


def frequency_gaussian(height: int, width: int, sigma: float, device: torch.device) -> Tensor:
    """g[u, v] = exp(-((u - H//2)^2 + (v - W//2)^2) / (2 sigma^2)) on the unshifted grid."""
    u = torch.arange(height, device=device, dtype=torch.float32) - height // 2
    v = torch.arange(width, device=device, dtype=torch.float32) - width // 2
    dist2 = u[:, None] ** 2 + v[None, :] ** 2
    return torch.exp(-dist2 / (2 * sigma**2))


class SpectralFilter(nn.Module):
    """Residual global filter in the frequency domain (LFM when `keep="low"`, HFM for "high")."""

    def __init__(self, channels: int, keep: str, sigma: float = SIGMA) -> None:
        super().__init__()
        if keep not in ("low", "high"):
            raise ValueError(f"keep must be 'low' or 'high', not {keep!r}")
        self.keep = keep
        self.sigma = sigma
        self.conv1 = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.conv2 = nn.Conv2d(2 * channels, 2 * channels, 1)
        self._masks: dict[tuple[int, int, str], Tensor] = {}

    def frequency_mask(self, height: int, width: int, device: torch.device) -> Tensor:
        """The fixed (H, W) weighting of the spectrum, built once per size and device.

        Not cached while torch.export/compile traces the module (symbolic sizes are not
        hashable, and a traced tensor must not leak into the cache): the graph builds it.
        """
        if torch.compiler.is_compiling() or not (
            isinstance(height, int) and isinstance(width, int)
        ):
            g = frequency_gaussian(height, width, self.sigma, device)
            return g if self.keep == "high" else 1.0 - g
        key = (height, width, str(device))
        mask = self._masks.get(key)
        if mask is None:
            g = frequency_gaussian(height, width, self.sigma, device)
            mask = g if self.keep == "high" else 1.0 - g
            self._masks[key] = mask
        return mask

    def spectral_filter(self, spectrum: Tensor) -> Tensor:
        """The learnable part: 1x1 conv, ReLU, 1x1 conv on [real, imag] channels."""
        z = torch.cat([spectrum.real, spectrum.imag], dim=1)
        z = self.conv2(F.relu(self.conv1(z.to(self.conv1.weight.dtype))))
        real, imag = z.float().chunk(2, dim=1)
        return torch.complex(real, imag)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        # FFTs in fp32 whatever the autocast/dtype context: bf16 has no FFT and loses precision.
        with torch.autocast(device_type=x.device.type, enabled=False):
            spectrum = torch.fft.fft2(x.float())
            spectrum = spectrum * self.frequency_mask(height, width, x.device)
        filtered = self.spectral_filter(spectrum)
        with torch.autocast(device_type=x.device.type, enabled=False):
            out = torch.fft.ifft2(filtered, s=(height, width)).real
        if torch.is_autocast_enabled(x.device.type):
            return x.float() + out  # fp32 under autocast, as the original's modules
        return x + out.to(x.dtype)
