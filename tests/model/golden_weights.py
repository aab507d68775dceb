"""Seeded weights for the golden comparison with the original GSFM code.

The paper network's weights (~200 MB) are too big to store, so the golden data keeps a seed and
the original state dict's names and shapes; every tensor is drawn from its own generator seeded
by (seed, CRC32 of its name), so the same weights come back whatever order the keys are in.
Scales keep a randomly weighted ResNet-50 + decoder numerically tame (activations O(1)).
"""

from __future__ import annotations

import math
import zlib

import torch
from torch import Tensor


def seeded_tensor(name: str, shape: tuple[int, ...], seed: int) -> Tensor:
    """One deterministic tensor for the state-dict entry `name`."""
    if name.endswith("num_batches_tracked"):
        return torch.zeros((), dtype=torch.long)
    gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
    if name.endswith("running_var"):
        return 0.5 + torch.rand(shape, generator=gen)
    if name.endswith("running_mean"):
        return 0.1 * torch.randn(shape, generator=gen)
    if len(shape) == 1:
        base = 1.0 if name.endswith("weight") else 0.0
        return base + 0.1 * torch.randn(shape, generator=gen)
    fan_in = math.prod(shape[1:])
    return torch.randn(shape, generator=gen) * math.sqrt(1.0 / fan_in)


def seeded_state(layout: dict[str, list[int]], seed: int) -> dict[str, Tensor]:
    """{name: shape} of a state dict -> the seeded tensors."""
    return {name: seeded_tensor(name, tuple(shape), seed) for name, shape in layout.items()}
