"""The gather-based top-k readout equals the dense path of the spec (`GSFM.read_memory`)."""

from __future__ import annotations

import pytest
import torch

import gsfm.model.readout as readout_module
from gsfm.model.network import memory_affinity, softmax_top_k
from gsfm.model.readout import (
    query_affinity,
    read_memory,
    top_k_readout,
    top_k_select,
    with_squared_norms,
)

B, CK, N, CV, T, H, W = 2, 8, 3, 5, 4, 3, 5


def dense_reference(mem_key, mem_value, query_key, top_k, valid=None):
    """The straightforward implementation: full weight matrix, masked, top-k, matmul."""
    affinity = memory_affinity(mem_key, query_key)  # [B, M, HW]
    if valid is not None:
        affinity = affinity.masked_fill(~valid[None, :, None], float("-inf"))
    weights = softmax_top_k(affinity, top_k)
    b, n, cv = mem_value.shape[:3]
    return (mem_value.reshape(b, n * cv, -1) @ weights).view(b, n, cv, H, W)


def position_major(mem_value):
    """[B, N, Cv, T, h, w] -> [B, T*h*w, N, Cv], the memory bank's layout."""
    return mem_value.permute(0, 3, 4, 5, 1, 2).flatten(1, 3)


def readout(mem_key, values_pm, query_key, top_k, valid=None):
    out = top_k_readout(query_affinity(mem_key, query_key), values_pm, top_k, valid)
    n, cv = values_pm.shape[2:]
    return out.transpose(1, 2).reshape(B, n, cv, H, W)


@pytest.fixture
def memory():
    g = torch.Generator().manual_seed(0)
    mem_key = torch.randn(B, CK, T, H, W, generator=g)
    mem_value = torch.randn(B, N, CV, T, H, W, generator=g)
    query_key = torch.randn(B, CK, H, W, generator=g)
    return mem_key, mem_value, query_key


def test_query_affinity_is_the_transpose_of_the_spec_affinity(memory):
    mem_key, _, query_key = memory
    torch.testing.assert_close(
        query_affinity(mem_key, query_key), memory_affinity(mem_key, query_key).transpose(1, 2)
    )


@pytest.mark.parametrize("top_k", [1, 7, 20, T * H * W, None])
def test_matches_dense_top_k(memory, top_k):
    mem_key, mem_value, query_key = memory
    got = readout(mem_key, position_major(mem_value), query_key, top_k)
    expected = dense_reference(mem_key, mem_value, query_key, top_k)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_valid_slots_and_an_object_slice(memory):
    """A later object's cohort: a slice of the objects, attending to its own frames only."""
    mem_key, mem_value, query_key = memory
    valid = (torch.arange(T) >= 2).repeat_interleave(H * W)
    values = position_major(mem_value)[:, :, 1:3]  # non-contiguous view
    assert not values.is_contiguous()
    got = readout(mem_key, values, query_key, 7, valid)
    expected = dense_reference(mem_key, mem_value[:, 1:3], query_key, 7, valid)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # the invalid frames really are ignored: changing their values changes nothing
    changed = mem_value.clone()
    changed[:, :, :, :2] = 100.0
    again = readout(mem_key, position_major(changed)[:, :, 1:3], query_key, 7, valid)
    torch.testing.assert_close(again, got)


def test_top_k_actually_limits_the_readout(memory):
    """k = 1 returns exactly the value of the best-matching memory position."""
    mem_key, mem_value, query_key = memory
    values = position_major(mem_value)
    out = top_k_readout(query_affinity(mem_key, query_key), values, 1)
    best = query_affinity(mem_key, query_key).argmax(-1)  # [B, HW]
    for b in range(B):
        torch.testing.assert_close(out[b], values[b, best[b]].flatten(1))


def test_shape_mismatch_is_refused(memory):
    mem_key, mem_value, query_key = memory
    with pytest.raises(ValueError, match="do not match"):
        top_k_readout(query_affinity(mem_key, query_key), position_major(mem_value)[:, 1:], 5)


@pytest.mark.parametrize(("m", "k"), [(800, 20), (1000, 20), (804, 20), (120, 20), (5120, 5)])
def test_block_top_k_selects_what_a_full_sort_selects(m, k):
    """Rows long enough for the block path (m // 8 >= 4k: 800, 1000; 5120 with k 5 takes
    blocks of blocks, twice), and ones that are not (804 is no multiple of 8, 120 too short),
    against a full descending sort of each row."""
    g = torch.Generator().manual_seed(m)
    affinity = torch.randn(2, 30, m, generator=g) * 3
    affinity[0, :, ::7] = float("-inf")  # masked memory positions
    scores, index = top_k_select(affinity, k)
    order = torch.argsort(affinity, dim=-1, descending=True)[..., :k]
    assert torch.equal(index, order)
    assert torch.equal(scores, affinity.gather(2, order))
    _, unordered = top_k_select(affinity, k, ordered=False)  # the same set, in any order
    assert torch.equal(unordered.sort(dim=-1).values, order.sort(dim=-1).values)


def test_block_top_k_finds_entries_crowded_into_few_blocks():
    """The best entries all in one block (j, j + M/8, ...): only one block maximum among the
    k kept stands for them, and the row's top-k must still come out whole."""
    m, k = 8 * 200, 10
    affinity = torch.zeros(1, 1, m)
    crowded = torch.arange(8) * 200 + 17  # block 17
    affinity[0, 0, crowded] = torch.arange(8, 0, -1).float() + 10
    affinity[0, 0, 3] = 9.5
    affinity[0, 0, 5] = 9.0
    scores, index = top_k_select(affinity, k)
    assert index[0, 0].tolist() == [*crowded.tolist(), 3, 5]
    assert scores[0, 0].tolist() == [18, 17, 16, 15, 14, 13, 12, 11, 9.5, 9.0]


@pytest.mark.parametrize("block_bytes", [4 * T * H * W, 4 * T * H * W * 4, 2**20])
def test_query_blocks_and_cohorts_match_the_dense_path(memory, monkeypatch, block_bytes):
    """`read_memory` over blocks of 1, 4 or all queries, for two cohorts of objects (the
    second attends to frames 2.. only), equals the dense spec per cohort."""
    monkeypatch.setattr(readout_module, "AFFINITY_BLOCK_BYTES", block_bytes)
    mem_key, mem_value, query_key = memory
    values = position_major(mem_value)
    valid = (torch.arange(T) >= 2).repeat_interleave(H * W)
    keys = with_squared_norms(mem_key)
    first, later = read_memory(keys, query_key, values, [(0, 1, None), (1, 3, valid)], 7)
    for got, n, expected in (
        (first, 1, dense_reference(mem_key, mem_value[:, :1], query_key, 7)),
        (later, 2, dense_reference(mem_key, mem_value[:, 1:], query_key, 7, valid)),
    ):
        got = got.transpose(1, 2).reshape(B, n, CV, H, W)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
