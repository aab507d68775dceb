"""How frames and given masks reach the network's resolution (`EngineConfig.resize`).

- "antialias" (the default: `gsfm segment`, `gsfm demo`, DAVIS): the shorter side to `size`
  with the longer side rounded, bicubic with antialiasing on RGB in [0, 1] (like a PIL resize
  of the image), clamped, then ImageNet-normalised; label maps nearest-exact.
- "original" (`gsfm infer` on YouTube-VOS): what the original's YouTube-VOS loader does
  (yv_test_dataset.py with torchvision of 2022): normalise first, then bicubic of the
  normalised tensor without antialiasing, the longer side int(size * long / short)
  (truncated); the first masks with legacy nearest (`mode="nearest"`).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from gsfm.inference.config import ANTIALIAS, ORIGINAL, RESIZE_MODES
from gsfm.model.image import normalize

__all__ = ["ANTIALIAS", "ORIGINAL", "RESIZE_MODES", "network_size", "resize_frame", "resize_masks"]


def network_size(
    height: int, width: int, size: int | None, mode: str = ANTIALIAS
) -> tuple[int, int]:
    """(h, w) with the shorter side equal to `size`, aspect kept (None: as is); the longer
    side rounded ("antialias") or truncated as torchvision's Resize does ("original")."""
    if size is None:
        return height, width
    short, long = min(height, width), max(height, width)
    truncated = int(size * long / short)
    other = truncated if mode == ORIGINAL else max(1, round(long * (size / short)))
    return (size, other) if height <= width else (other, size)


def resize_frame(x: Tensor, size: int | None, mode: str = ANTIALIAS) -> Tensor:
    """RGB [1, 3, H, W] float in [0, 1] -> ImageNet-normalised [1, 3, h, w] at the network's
    size (see the module docstring for the two modes)."""
    target = network_size(x.shape[-2], x.shape[-1], size, mode)
    if target == tuple(x.shape[-2:]):
        return normalize(x)
    if mode == ORIGINAL:
        return F.interpolate(
            normalize(x), size=target, mode="bicubic", align_corners=False, antialias=False
        )
    x = F.interpolate(x, size=target, mode="bicubic", align_corners=False, antialias=True)
    return normalize(x.clamp(0.0, 1.0))


def resize_masks(probs: Tensor, size: int | None, hard: bool, mode: str = ANTIALIAS) -> Tensor:
    """Per-object masks [K, H, W] (float) -> [K, h, w] at the network's size: hard masks with
    nearest neighbour (nearest-exact, or the original's legacy nearest), soft ones bilinear."""
    target = network_size(probs.shape[-2], probs.shape[-1], size, mode)
    if target == tuple(probs.shape[-2:]):
        return probs
    if not hard:
        return F.interpolate(probs[None], size=target, mode="bilinear", align_corners=False)[0]
    nearest = "nearest" if mode == ORIGINAL else "nearest-exact"
    return F.interpolate(probs[None], size=target, mode=nearest)[0]
