"""ResNet backbones in plain PyTorch with torchvision's parameter names.

The key encoder is ResNet-50 cut after layer3 (stride 16) and the value encoder ResNet-18 cut
after layer3, both in the STCN "mod_resnet" form whose convolutions carry a bias. Names follow
torchvision (`conv1`, `bn1`, `layerN.M.convK`, `downsample.0/1`) so that torchvision ImageNet
state dicts load unchanged (biases stay zero, see `gsfm.model.weights`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class StemConv(nn.Conv2d):
    """The stem's 7x7 stride-2 convolution (nn.Conv2d, same state and export).

    Under `torch.inference_mode` on the CPU in fp32 it runs on a channels-last copy of its
    few-channel input and hands back the usual layout: oneDNN's channels-last kernel gave the
    same bits 1.5x faster (12 ms against 18 ms for 3 channels at 640x480, conversions
    included); in bf16 the usual layout was faster, and training and export are unchanged.
    """

    def forward(self, x: Tensor) -> Tensor:
        fast = (
            torch.is_inference_mode_enabled()
            and x.device.type == "cpu"
            and x.dim() == 4
            and x.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")
        )
        if not fast:
            return super().forward(x)
        return super().forward(x.contiguous(memory_format=torch.channels_last)).contiguous()


class StemPool(nn.MaxPool2d):
    """The stem's 3x3 max pooling, stride 2, padding 1 (nn.MaxPool2d, same state and export).

    Under `torch.inference_mode` it runs as two separable passes (three rows, then three
    columns: elementwise maxima of strided views). Maxima are exact, so the output is the same
    bits; on CPU the separable form took 4-7 ms where max_pool2d took 21-38 ms at 320x240
    with 32 channels (it also computes indices). Training and export keep max_pool2d
    (its gradient and its ONNX op).
    """

    def __init__(self) -> None:
        super().__init__(3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        if not torch.is_inference_mode_enabled() or x.dim() != 4:
            return super().forward(x)
        return separable_max_pool(x)


def separable_max_pool(x: Tensor) -> Tensor:
    """max_pool2d(x, 3, stride=2, padding=1) of [B, C, H, W] as row maxima then column maxima."""
    height, width = x.shape[-2:]
    out_h, out_w = (height - 1) // 2 + 1, (width - 1) // 2 + 1
    padded = F.pad(x, (1, 1, 1, 1), value=float("-inf"))
    rows = torch.maximum(padded[..., 0 : 2 * out_h - 1 : 2, :], padded[..., 1 : 2 * out_h : 2, :])
    torch.maximum(rows, padded[..., 2 : 2 * out_h + 1 : 2, :], out=rows)
    out = torch.maximum(rows[..., 0 : 2 * out_w - 1 : 2], rows[..., 1 : 2 * out_w : 2])
    return torch.maximum(out, rows[..., 2 : 2 * out_w + 1 : 2], out=out)


def conv3x3(cin: int, cout: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias)


class BasicBlock(nn.Module):
    """ResNet-18/34 block: two 3x3 convs."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.conv1 = conv3x3(cin, planes, stride, bias)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, 1, bias)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(cin, planes, stride, bias)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """ResNet-50 block: 1x1 reduce, 3x3 (stride here, as torchvision), 1x1 expand x4."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=bias)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride, bias)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=bias)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(cin, planes * 4, stride, bias)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _downsample(cin: int, cout: int, stride: int, bias: bool) -> nn.Sequential | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=bias), nn.BatchNorm2d(cout))


BLOCKS: dict[str, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2)),
    "resnet50": (Bottleneck, (3, 4, 6)),
}


def make_stage(
    block: type[BasicBlock] | type[Bottleneck],
    cin: int,
    planes: int,
    blocks: int,
    stride: int,
    bias: bool = True,
) -> tuple[nn.Sequential, int]:
    """One ResNet stage; returns the stage and its output channels."""
    layers = [block(cin, planes, stride, bias)]
    cout = planes * block.expansion
    layers += [block(cout, planes, 1, bias) for _ in range(blocks - 1)]
    return nn.Sequential(*layers), cout


class ResNetTrunk(nn.Module):
    """Stem + layer1..layer3 of a ResNet (stride 16), returning (f16, f8, f4).

    `stage_names` lets the key encoder call layer1 `res2`, as the original checkpoints do.
    """

    def __init__(
        self,
        arch: str,
        in_channels: int = 3,
        width: int = 64,
        bias: bool = True,
        stage_names: tuple[str, str, str] = ("layer1", "layer2", "layer3"),
    ) -> None:
        super().__init__()
        block, depths = BLOCKS[arch]
        self.stage_names = stage_names
        self.conv1 = StemConv(in_channels, width, 7, stride=2, padding=3, bias=bias)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = StemPool()
        cin = width
        self.channels: list[int] = []
        for i, (name, depth) in enumerate(zip(stage_names, depths)):
            stage, cin = make_stage(block, cin, width * 2**i, depth, 1 if i == 0 else 2, bias)
            self.add_module(name, stage)
            self.channels.append(cin)

    @property
    def out_channels(self) -> tuple[int, int, int]:
        """Channels of (f16, f8, f4)."""
        return self.channels[2], self.channels[1], self.channels[0]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        f4 = getattr(self, self.stage_names[0])(x)
        f8 = getattr(self, self.stage_names[1])(f4)
        f16 = getattr(self, self.stage_names[2])(f8)
        return f16, f8, f4
