"""Memory readout for inference: query-major affinity, an exact top-k selection through block
maxima, and a gather-based readout, computed one block of queries at a time.

`GSFM.read_memory` (training, tests) builds the full [M, HW] weight matrix and multiplies it
with the values: with top-k that matrix is almost all zeros, so the multiply spends
2 * C * M * HW FLOPs on a result that only needs C * K * HW. Here:

- the affinity is laid out query-major ([B, Q, M], so the selection runs along the contiguous
  axis) and computed as one matrix product, 2 q.k - |k|^2 = (2 q, -1) . (k, |k|^2), with the
  memory keys' squared norms stored beside them once (`with_squared_norms`) instead of
  recomputed and subtracted in a pass over the large result every frame; the division by
  sqrt(Ck) is left to the K selected scores (a positive constant changes no ranking, and for
  Ck = 64 dividing by 8 is exact);
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


def squared_norms(key: Tensor) -> Tensor:
    """|k|^2 over the channels of keys [B, Ck, ...] -> [B, ...]."""
    return key.pow(2).sum(1)


def with_squared_norms(mem_key: Tensor) -> Tensor:
    """Memory keys [B, Ck, ...] -> [B, Ck + 1, ...] with |k|^2 as the last channel: the
    layout `read_memory` multiplies (the memory bank stores its keys this way)."""
    return torch.cat([mem_key, squared_norms(mem_key).unsqueeze(1)], dim=1)


def query_affinity(mem_key: Tensor, query_key: Tensor, *, scaled: bool = True) -> Tensor:
    """Memory keys [B, Ck, T, h, w] (or [B, Ck, M]), query key [B, Ck, h, w] (or [B, Ck, Q])
    -> [B, Q, M].

    The transpose of `gsfm.model.network.memory_affinity`: (2 qk.mk - |mk|^2) / sqrt(Ck);
    `scaled=False` leaves out the division (see the module docstring).
    """
    keys = with_squared_norms(mem_key.flatten(start_dim=2))
    out = _affinity(keys, _query_rows(query_key))
    return out.div_(math.sqrt(mem_key.shape[1])) if scaled else out


def _query_rows(query_key: Tensor) -> Tensor:
    """Query key [B, Ck, h, w] -> [B, Q, Ck + 1] rows (2 q, -1), so that a row times a memory
    key with its squared norm (`with_squared_norms`) is 2 q.k - |k|^2."""
    qk = query_key.flatten(start_dim=2).float().transpose(1, 2)
    return torch.cat([2 * qk, qk.new_full((*qk.shape[:2], 1), -1.0)], dim=2)


def _affinity(keys: Tensor, rows: Tensor, out: Tensor | None = None) -> Tensor:
    """Memory keys with norms [B, Ck + 1, M], query rows [B, Q, Ck + 1] -> [B, Q, M]."""
    # One product, no pass over the large result to subtract |k|^2 (memory-bound); 2 q is
    # exact in float. With a preallocated `out` no fresh pages are touched either.
    return torch.matmul(rows, keys, out=out)


def top_k_select(affinity: Tensor, k: int, ordered: bool = True) -> tuple[Tensor, Tensor]:
    """The k largest entries of each row of [B, Q, M] and their indices, as
    `torch.topk(affinity, k, dim=-1, sorted=ordered)` (see the module docstring for how)."""
    b, q, m = affinity.shape
    c = SELECT_BLOCK
    blocks = m // c
    if blocks < 4 * k:
        return torch.topk(affinity, k, dim=-1, sorted=ordered)
    # Block j holds entries j, j + n, j + 2n, ... (n = M // c): its maximum is an elementwise
    # maximum of c contiguous slices. The k best blocks are found the same way, recursively
    # (blocks of blocks, in no particular order), while there are many. The M - c * n last
    # entries (a tail shorter than c) are candidates anyway.
    maxima = affinity[..., : blocks * c].unflatten(-1, (c, blocks)).amax(dim=-2)
    _, chosen = top_k_select(maxima, k, ordered=False)  # [B, Q, K]
    offsets = torch.arange(c, device=affinity.device) * blocks
    candidates = (chosen.unsqueeze(-1) + offsets).flatten(-2)  # [B, Q, K * c]
    if m > blocks * c:
        tail = torch.arange(blocks * c, m, device=affinity.device).expand(b, q, -1)
        candidates = torch.cat([candidates, tail], dim=-1)
    scores, picked = torch.topk(torch.gather(affinity, 2, candidates), k, dim=-1, sorted=ordered)
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


class Workspace:
    """A buffer reused by every frame's affinity blocks (grown when a block needs more):
    a fresh block of tens of MB per frame costs page faults, ~20 ms a frame on a 2-core CPU."""

    def __init__(self) -> None:
        self._buffer: Tensor | None = None

    def take(self, shape: tuple[int, ...], device: torch.device) -> Tensor:
        """An uninitialised fp32 tensor of `shape` on `device`, sharing the buffer."""
        count = math.prod(shape)
        buffer = self._buffer
        if buffer is None or buffer.numel() < count or buffer.device != device:
            buffer = self._buffer = torch.empty(count, device=device)
        return buffer[:count].view(shape)


def read_memory(
    keys: Tensor,
    query_key: Tensor,
    values: Tensor,
    cohorts: Sequence[tuple[int, int, Tensor | None]],
    top_k: int | None,
    workspace: Workspace | None = None,
) -> list[Tensor]:
    """Top-k readouts of one query frame: memory keys with their squared norms
    [B, Ck + 1, T, h, w] (`with_squared_norms`, as the memory bank stores them), query key
    [B, Ck, h, w], values [B, M, N, Cv] position-major, and per cohort of objects
    (start, stop, valid [M] or None) its readout [B, h*w, (stop - start) * Cv].

    Every cohort shares one affinity, computed `affinity_rows` queries at a time in fp32
    (each block read by `cohort_readouts`).
    """
    mk = keys.flatten(start_dim=2).float()
    rows = _query_rows(query_key)
    temperature = math.sqrt(mk.shape[1] - 1)
    b, q, m = rows.shape[0], rows.shape[1], mk.shape[2]
    block = affinity_rows(q, m)
    parts: list[list[Tensor]] = [[] for _ in cohorts]
    for first in range(0, q, block):
        count = min(block, q - first)
        out = None if workspace is None else workspace.take((b, count, m), mk.device)
        affinity = _affinity(mk, rows[:, first : first + count], out)
        for part, read in zip(
            parts, cohort_readouts(affinity, values, cohorts, top_k, temperature)
        ):
            part.append(read)
    return [p[0] if len(p) == 1 else torch.cat(p, dim=1) for p in parts]


def cohort_readouts(
    affinity: Tensor,
    values: Tensor,
    cohorts: Sequence[tuple[int, int, Tensor | None]],
    top_k: int | None,
    temperature: float = 1.0,
) -> list[Tensor]:
    """Affinity [B, Q, M], position-major values [B, M, N, Cv] and cohorts (start, stop,
    valid [M] or None) -> per cohort the readout of its objects, [B, Q, (stop - start) * Cv]:
    the slice of its objects' channels of the top-k readout of all objects (the table stays
    contiguous; the other objects' sums cost little)."""
    cv = values.shape[-1]
    reads = []
    for start, stop, valid in cohorts:
        read = top_k_readout(affinity, values, top_k, valid, temperature)
        whole = stop - start == values.shape[2]
        reads.append(read if whole else read[..., start * cv : stop * cv])
    return reads


def readout_maps(readout: Tensor, objects: int, height: int, width: int) -> Tensor:
    """Readout [B, Q = h*w, N*Cv] of `top_k_readout` -> per-object maps [B, N, Cv, h, w],
    the layout the decoder takes."""
    b = readout.shape[0]
    return readout.transpose(1, 2).reshape(b, objects, -1, height, width)
