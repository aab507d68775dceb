"""Memory readout for inference: query-major affinity and a gather-based top-k readout.

`GSFM.read_memory` (training, tests) builds the full [M, HW] weight matrix and multiplies it
with the values: with top-k that matrix is almost all zeros, so the multiply spends
2 * C * M * HW FLOPs on a result that only needs C * K * HW. Here the affinity is laid out
query-major ([B, HW, M], so top-k runs along the contiguous axis), and the readout gathers
the K selected memory positions of each query from position-major values ([B, M, ..., C])
and takes their weighted sum, one rank k at a time (K gathers of [HW, C] rows and fused
multiply-adds: no [HW, K, C] temporary). Same terms, same sums: the results agree with the
dense path to float rounding (tests check 1e-5), and the cost no longer grows with the
memory size except for the affinity itself and the top-k selection.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def query_affinity(mem_key: Tensor, query_key: Tensor) -> Tensor:
    """Memory keys [B, Ck, T, h, w] (or [B, Ck, M]), query key [B, Ck, h, w] -> [B, h*w, M].

    The transpose of `gsfm.model.network.memory_affinity`: (2 qk.mk - |mk|^2) / sqrt(Ck).
    """
    ck = mem_key.shape[1]
    mk = mem_key.flatten(start_dim=2)
    qk = query_key.flatten(start_dim=2)
    a_sq = mk.pow(2).sum(1).unsqueeze(1)  # [B, 1, M]
    # In place on the large [B, HW, M] product (memory-bound), with the same operations in the
    # same order as the original's (2 k.q - |k|^2) / sqrt(Ck), so top-k picks the same entries.
    return (qk.transpose(1, 2) @ mk).mul_(2).sub_(a_sq).div_(math.sqrt(ck))


def top_k_readout(
    affinity: Tensor,
    values: Tensor,
    top_k: int | None,
    valid: Tensor | None = None,
) -> Tensor:
    """Affinity [B, Q, M], position-major values [B, M, *C] -> readout [B, Q, prod(C)].

    Softmax over the memory axis, restricted to the `top_k` largest entries per query (all
    when None or >= M) and to the memory positions where `valid` [M] is true. `values` may
    be a non-contiguous view (e.g. a slice of the objects); only the selected rows are read.
    """
    b, q, m = affinity.shape
    if values.shape[:2] != (b, m):
        raise ValueError(f"values {tuple(values.shape)} do not match affinity {(b, q, m)}")
    if valid is not None and not bool(valid.all()):
        affinity = affinity.masked_fill(~valid.view(1, 1, m), float("-inf"))
    channels = math.prod(values.shape[2:])
    if top_k is None or top_k >= m:
        weights = torch.softmax(affinity, dim=-1).to(values.dtype)
        return weights @ values.reshape(b, m, channels)
    scores, index = torch.topk(affinity, k=top_k, dim=-1)  # [B, Q, K]
    weights = torch.softmax(scores, dim=-1).to(values.dtype)
    out = values.new_zeros(b, q, channels)
    for i in range(b):
        for k in range(top_k):
            # The k-th choice of every query: one [Q, C] gather, one fused multiply-add.
            picked = values[i].index_select(0, index[i, :, k]).reshape(q, channels)
            out[i].addcmul_(picked, weights[i, :, k : k + 1])
    return out


def readout_maps(readout: Tensor, objects: int, height: int, width: int) -> Tensor:
    """Readout [B, Q = h*w, N*Cv] of `top_k_readout` -> per-object maps [B, N, Cv, h, w],
    the layout the decoder takes."""
    b = readout.shape[0]
    return readout.transpose(1, 2).reshape(b, objects, -1, height, width)
