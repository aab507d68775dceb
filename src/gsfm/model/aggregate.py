"""Soft aggregation of per-object probabilities (STM/STCN)."""

from __future__ import annotations

import torch
from torch import Tensor

EPS = 1e-7


def soft_aggregate(prob: Tensor) -> Tensor:
    """Per-object probabilities [B, N, H, W] -> logits [B, N+1, H, W], background first.

    p_bg = prod(1 - p_i); every probability is clamped to [1e-7, 1 - 1e-7] and turned into a
    logit log(p / (1 - p)), so that a softmax over background + objects sums to one.
    """
    background = torch.prod(1 - prob, dim=1, keepdim=True)
    p = torch.cat([background, prob], dim=1).clamp(EPS, 1 - EPS)
    return torch.log(p / (1 - p))
