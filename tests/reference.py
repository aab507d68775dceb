"""Test-only reference computations that the library does not need: the decoder object by
object (`decode` batches objects and shares per-frame work), memory read + decode in one
call, and the bank's values in the network's [B, N, Cv, T, h, w] layout."""

from __future__ import annotations

import torch
from torch import Tensor

from gsfm.inference.memory import MemoryBank
from gsfm.model.network import GSFM, KeyFeatures


def decoder_forward(
    net: GSFM, f16: Tensor, f8: Tensor, f4: Tensor, with_boundary: bool = False
) -> tuple[Tensor, Tensor | None]:
    """The decoder as the paper draws it, one object per batch entry: f16 [B, 2Cv, h, w]
    (readout ++ query value) -> logits [B, 1, H, W]."""
    d = net.decoder
    x = d.compress(f16)
    x = d.up_16_8(f8, x)
    x = d.up_8_4(f4, x)
    return d.head(x, with_boundary)


def decode_reference(
    net: GSFM, readout: Tensor, query_value: Tensor, f8: Tensor, f4: Tensor
) -> Tensor:
    """`GSFM.decode` computed object by object -> mask logits [B, N, H, W]."""
    b, n = readout.shape[:2]

    def rep(t: Tensor) -> Tensor:
        return t.unsqueeze(1).expand(b, n, *t.shape[1:]).flatten(0, 1)

    x = torch.cat([readout, query_value.unsqueeze(1).expand_as(readout)], dim=2)
    mask, _ = decoder_forward(net, x.flatten(0, 1), rep(f8), rep(f4))
    return mask.view(b, n, *mask.shape[-2:])


def segment(
    net: GSFM,
    features: KeyFeatures,
    mem_key: Tensor,
    mem_value: Tensor,
    top_k: int | None = None,
    with_boundary: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Read memory and decode every object: -> (mask logits, boundary logits or None)."""
    readout = net.read_memory(mem_key, mem_value, features.key, top_k)
    return net.decode(readout, features.value, features.f8, features.f4, with_boundary)


def memory_values(bank: MemoryBank) -> Tensor:
    """[B, N, Cv, T, h, w] view of the bank's used slots, one value per object."""
    return bank._used_values().permute(0, 4, 5, 1, 2, 3)
