"""Building blocks shared by the encoders and the decoder (names as in the original layout)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ResBlock(nn.Module):
    """Pre-activation residual block: conv3x3(relu(x)) twice, plus x (3x3 conv when in != out)."""

    def __init__(self, cin: int, cout: int | None = None) -> None:
        super().__init__()
        cout = cout or cin
        self.downsample = None if cin == cout else nn.Conv2d(cin, cout, 3, padding=1)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        r = self.conv2(F.relu(self.conv1(F.relu(x))))
        if self.downsample is not None:
            x = self.downsample(x)
        return x + r


class ChannelGate(nn.Module):
    """CBAM channel attention: shared MLP on average- and max-pooled descriptors."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.mlp = nn.Sequential(
            nn.Flatten(), nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels)
        )

    def forward(self, x: Tensor) -> Tensor:
        avg = self.mlp(F.adaptive_avg_pool2d(x, 1))
        mx = self.mlp(F.adaptive_max_pool2d(x, 1))
        return x * torch.sigmoid(avg + mx)[:, :, None, None]


class SpatialConv(nn.Module):
    """Holder so the conv is named `spatial.conv` as in the original checkpoints."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=(kernel_size - 1) // 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class SpatialGate(nn.Module):
    """CBAM spatial attention: 7x7 conv on channel max and mean."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.spatial = SpatialConv(kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


class CBAM(nn.Module):
    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.ChannelGate = ChannelGate(channels, reduction)
        self.SpatialGate = SpatialGate()

    def forward(self, x: Tensor) -> Tensor:
        return self.SpatialGate(self.ChannelGate(x))


class FeatureFusionBlock(nn.Module):
    """Fuses the value encoder's features with the key encoder's f16 into the memory value."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.block1 = ResBlock(cin, cout)
        self.attention = CBAM(cout)
        self.block2 = ResBlock(cout, cout)

    def forward(self, x: Tensor, f16: Tensor) -> Tensor:
        x = self.block1(torch.cat([x, f16], dim=1))
        return self.block2(x + self.attention(x))


class UpsampleBlock(nn.Module):
    """conv3x3(skip) + bilinear x2 of the coarser map, then a ResBlock."""

    def __init__(self, skip_channels: int, up_channels: int, out_channels: int) -> None:
        super().__init__()
        self.skip_conv = nn.Conv2d(skip_channels, up_channels, 3, padding=1)
        self.out_conv = ResBlock(up_channels, out_channels)

    def forward(self, skip: Tensor, up: Tensor) -> Tensor:
        x = self.skip_conv(skip) + F.interpolate(
            up, size=skip.shape[-2:], mode="bilinear", align_corners=False
        )
        return self.out_conv(x)


class KeyProjection(nn.Module):
    """f16 -> key; orthogonal init, zero bias (as STCN)."""

    def __init__(self, cin: int, key_dim: int) -> None:
        super().__init__()
        self.key_proj = nn.Conv2d(cin, key_dim, 3, padding=1)
        nn.init.orthogonal_(self.key_proj.weight.data)
        nn.init.zeros_(self.key_proj.bias.data)

    def forward(self, x: Tensor) -> Tensor:
        return self.key_proj(x)
