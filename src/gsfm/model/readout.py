"""Memory readout for inference: query-major affinity, an exact top-k selection through block
maxima, and a gather-based readout, computed one block of queries at a time.

`GSFM.read_memory` (training, tests) builds the full [M, HW] weight matrix and multiplies it
with the values: with top-k that matrix is almost all zeros, so the multiply spends
2 * C * M * HW FLOPs on a result that only needs C * K * HW. Here:

- the affinity is laid out query-major ([B, Q, M], so the selection runs along the contiguous
  axis) and computed as one fused multiply-add, 2 q.k - |k|^2, with the division by
  sqrt(Ck) left to the K selected scores (a positive constant changes no ranking, and for
  Ck = 64 dividing by 8 is exact, so the scores are the same bits);
- the top-k is found without sorting whole rows: a row of M scores is cut into M / c blocks
  of c entries, the K blocks with the largest maxima are kept, and the top-k of their K * c
  entries is the top-k of the row (an entry outside those blocks has at least K larger
  entries: the maxima of the K blocks kept). Same entries as `torch.topk` of the whole row
  (which of several exactly equal scores is taken may differ, as it may between topk
  implementations); it reads the row once with vectorised maxima instead of a scalar
  partial sort per entry;
- the k best blocks are found the same way, from the block maxima (blocks of blocks), so
  the only full sort left is over a few thousand block maxima per query;
- the readout gathers the K selected memory positions of each query from position-major
  values ([B, M, ..., C]) and takes their weighted sum, as an `embedding_bag` of K rows per
  query (the weighted gather-sum kernel: no [Q, K, C] temporary);
- queries go through in blocks whose affinity stays under 32 MiB (`affinity_rows`), so the
  memory a frame's read allocates no longer grows with (positions x memory positions), and
  fresh pages are not faulted in for a whole affinity every frame (smaller blocks were
  slower: each product packs the whole memory key matrix again).

Same terms, same sums: the results agree with the dense path to float rounding (tests check
1e-5), and the cost no longer grows with the memory size except for the affinity itself and
one pass of maxima over it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

# Entries per block of the top-k selection: 8 keeps the maxima pass one vectorised sweep and
# the candidates (K * 8 per query) few.
SELECT_BLOCK = 8
# Bytes of affinity computed at once (one block of queries against the whole memory).
AFFINITY_BLOCK_BYTES = 32 * 2**20


def query_affinity(mem_key: Tensor, query_key: Tensor, *, scaled: bool = True) -> Tensor:
    """Memory keys [B, Ck, T, h, w] (or [B, Ck, M]), query key [B, Ck, h, w] (or [B, Ck, Q])
    -> [B, Q, M].

    The transpose of `gsfm.model.network.memory_affinity`: (2 qk.mk - |mk|^2) / sqrt(Ck);
    `scaled=False` leaves out the division (see the module docstring).
    """
    mk = mem_key.flatten(start_dim=2)
    qk = query_key.flatten(start_dim=2)
    return _affinity(mk, qk.transpose(1, 2), mk.pow(2).sum(1, keepdim=True), scaled)


def _affinity(mk: Tensor, qk_t: Tensor, a_sq: Tensor, scaled: bool) -> Tensor:
    """mk [B, Ck, M], query keys [B, Q, Ck], |mk|^2 [B, 1, M] -> [B, Q, M]."""
    # 2 q.k - |k|^2 in one multiply-add over the large product (memory-bound): 2 q.k is
    # exact in float, so this rounds as the original's (2 k.q - |k|^2) does.
    out = torch.baddbmm(a_sq, qk_t, mk, beta=-1, alpha=2)
    return out.div_(math.sqrt(mk.shape[1])) if scaled else out


def top_k_select(affinity: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k largest entries of each row of [B, Q, M] and their indices, largest first, as
    `torch.topk(affinity, k, dim=-1)` (see the module docstring for how)."""
    b, q, m = affinity.shape
    c = SELECT_BLOCK
    blocks = m // c
    if m % c or blocks < 4 * k:
        return torch.topk(affinity, k, dim=-1)
    # Block j holds entries j, j + M/c, j + 2M/c, ...: its maximum is an elementwise maximum
    # of c contiguous slices. The k best blocks are found the same way, recursively (blocks of
    # blocks), while there are many.
    maxima = affinity.view(b, q, c, blocks).amax(dim=2)
    _, chosen = top_k_select(maxima, k)  # [B, Q, K]
    offsets = torch.arange(c, device=affinity.device) * blocks
    candidates = (chosen.unsqueeze(-1) + offsets).view(b, q, k * c)
    scores, picked = torch.topk(torch.gather(affinity, 2, candidates), k, dim=-1)
    return scores, candidates.gather(2, picked)


def top_k_readout(
    affinity: Tensor,
    values: Tensor,
    top_k: int | None,
    valid: Tensor | None = None,
    temperature: float = 1.0,
) -> Tensor:
    """Affinity [B, Q, M], position-major values [B, M, *C] -> readout [B, Q, prod(C)].

    Softmax over the memory axis of affinity / `temperature`, restricted to the `top_k`
    largest entries per query (all when None or >= M) and to the memory positions where
    `valid` [M] is true. Only the selected rows of `values` are read (a non-contiguous view
    is copied first).
    """
    b, q, m = affinity.shape
    if values.shape[:2] != (b, m):
        raise ValueError(f"values {tuple(values.shape)} do not match affinity {(b, q, m)}")
    if valid is not None and not bool(valid.all()):
        affinity = affinity.masked_fill(~valid.view(1, 1, m), float("-inf"))
    channels = math.prod(values.shape[2:])
    if top_k is None or top_k >= m:
        weights = torch.softmax(affinity / temperature, dim=-1).to(values.dtype)
        return weights @ values.reshape(b, m, channels)
    scores, index = top_k_select(affinity, top_k)  # [B, Q, K]
    if temperature != 1.0:
        scores = scores.div_(temperature)
    weights = torch.softmax(scores, dim=-1).to(values.dtype)
    # Each query's K selected rows, weighted and summed: a bag of K rows of the [M, C] table
    # (a gather and a fused multiply-add per row, in rank order, without a [Q, K, C] copy).
    return torch.stack(
        [
            F.embedding_bag(
                index[i],
                values[i].reshape(m, channels),
                None,
                mode="sum",
                per_sample_weights=weights[i],
            )
            for i in range(b)
        ]
    )


def affinity_rows(queries: int, memory_positions: int) -> int:
    """Queries whose affinity `read_memory` computes at once: AFFINITY_BLOCK_BYTES of fp32
    scores, at least one query, at most all."""
    rows = AFFINITY_BLOCK_BYTES // (4 * max(memory_positions, 1))
    return max(1, min(queries, rows))


def read_memory(
    mem_key: Tensor,
    query_key: Tensor,
    values: Tensor,
    cohorts: Sequence[tuple[int, int, Tensor | None]],
    top_k: int | None,
) -> list[Tensor]:
    """Top-k readouts of one query frame: memory keys [B, Ck, T, h, w], query key
    [B, Ck, h, w], values [B, M, N, Cv] position-major, and per cohort of objects
    (start, stop, valid [M] or None) its readout [B, h*w, (stop - start) * Cv].

    Every cohort shares one affinity, computed `affinity_rows` queries at a time in fp32; a
    cohort's readout is the slice of its objects' channels of the readout of all objects (the
    table stays contiguous; the other objects' sums cost little).
    """
    mk = mem_key.flatten(start_dim=2).float()
    qk_t = query_key.flatten(start_dim=2).float().transpose(1, 2)  # [B, Q, Ck]
    a_sq = mk.pow(2).sum(1, keepdim=True)
    temperature = math.sqrt(mk.shape[1])
    q, m = qk_t.shape[1], mk.shape[2]
    cv = values.shape[-1]
    rows = affinity_rows(q, m)
    parts: list[list[Tensor]] = [[] for _ in cohorts]
    for first in range(0, q, rows):
        affinity = _affinity(mk, qk_t[:, first : first + rows], a_sq, scaled=False)
        for part, (start, stop, valid) in zip(parts, cohorts):
            out = top_k_readout(affinity, values, top_k, valid, temperature)
            whole = stop - start == values.shape[2]
            part.append(out if whole else out[..., start * cv : stop * cv])
    return [p[0] if len(p) == 1 else torch.cat(p, dim=1) for p in parts]


def readout_maps(readout: Tensor, objects: int, height: int, width: int) -> Tensor:
    """Readout [B, Q = h*w, N*Cv] of `top_k_readout` -> per-object maps [B, N, Cv, h, w],
    the layout the decoder takes."""
    b = readout.shape[0]
    return readout.transpose(1, 2).reshape(b, objects, -1, height, width)
