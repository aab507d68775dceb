"""The training forward pass over a 3-frame sample, as one `nn.Module` (so DDP can wrap it).

Frame 0 and its ground-truth masks go into memory; every later frame is segmented from all
earlier ones, and its predicted (soft-aggregated) masks are encoded as the next memory value,
so errors propagate as they do at inference.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from gsfm.model.aggregate import soft_aggregate
from gsfm.model.network import GSFM


class SequenceOutput(NamedTuple):
    """Per predicted frame (1..T-1): aggregated logits [B, N+1, H, W], boundary logits
    [B, N, H, W] and object probabilities [B, N, H, W] after aggregation."""

    aggregated: list[Tensor]
    boundaries: list[Tensor]
    probabilities: list[Tensor]


class SequenceModel(nn.Module):
    """Runs GSFM over normalised frames [B, T, 3, H, W] with GT masks [B, T, N, H, W]."""

    def __init__(self, net: GSFM) -> None:
        super().__init__()
        self.net = net

    def forward(self, frames: Tensor, masks: Tensor, selector: Tensor) -> SequenceOutput:
        b, t = frames.shape[:2]
        net = self.net
        # All frames through the key encoder at once (batch statistics over every frame).
        feats = net.encode_key(frames.flatten(0, 1))
        keys = feats.key.unflatten(0, (b, t))
        values = feats.value.unflatten(0, (b, t))
        f16 = feats.f16.unflatten(0, (b, t))
        f8 = feats.f8.unflatten(0, (b, t))
        f4 = feats.f4.unflatten(0, (b, t))
        sel = selector[:, :, None, None]

        mem_values = [net.encode_value(frames[:, 0], f16[:, 0], masks[:, 0] * sel)]
        out = SequenceOutput([], [], [])
        for i in range(1, t):
            mem_key = keys[:, :i].transpose(1, 2)  # [B, Ck, i, h, w]
            mem_value = torch.stack(mem_values, dim=3)  # [B, N, Cv, i, h, w]
            readout = net.read_memory(mem_key, mem_value, keys[:, i])
            logits, boundary = net.decode(readout, values[:, i], f8[:, i], f4[:, i], True)
            assert boundary is not None
            prob = torch.sigmoid(logits.float()) * sel
            aggregated = soft_aggregate(prob)
            prob = torch.softmax(aggregated, dim=1)[:, 1:]
            out.aggregated.append(aggregated)
            out.boundaries.append(boundary.float())
            out.probabilities.append(prob)
            if i + 1 < t:
                mem_values.append(net.encode_value(frames[:, i], f16[:, i], prob.to(frames.dtype)))
        return out
