"""Frame normalisation and padding to the network's stride."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
STRIDE = 16

Pads = tuple[int, int, int, int]  # left, right, top, bottom (F.pad order)


def normalize(frames: Tensor) -> Tensor:
    """[..., 3, H, W] RGB in [0, 1] (float) or [0, 255] (uint8) -> ImageNet-normalised float."""
    if frames.dtype == torch.uint8:
        frames = frames.float() / 255.0
    mean = frames.new_tensor(MEAN)[:, None, None]
    std = frames.new_tensor(STD)[:, None, None]
    return (frames - mean) / std


def pad_to_multiple(x: Tensor, multiple: int = STRIDE) -> tuple[Tensor, Pads]:
    """Zero-pad the last two dims to a multiple, the smaller half of the padding first."""
    h, w = x.shape[-2:]
    ph = (multiple - h % multiple) % multiple
    pw = (multiple - w % multiple) % multiple
    pads = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    if ph == 0 and pw == 0:
        return x, pads
    return F.pad(x, pads), pads


def unpad(x: Tensor, pads: Pads) -> Tensor:
    """Undo `pad_to_multiple` on the last two dims."""
    left, right, top, bottom = pads
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]
