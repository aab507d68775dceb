"""The gather-based top-k readout equals the dense path of the spec (`GSFM.read_memory`)."""

from __future__ import annotations

import pytest
import torch

from gsfm.model.network import memory_affinity, softmax_top_k
from gsfm.model.readout import query_affinity, top_k_readout

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
