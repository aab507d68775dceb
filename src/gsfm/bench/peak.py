"""The machine's matrix-multiply peak, measured in the same process as the benchmark.

A profile's "share of peak" is only meaningful against a peak taken on the same machine, at
the same moment (another job sharing the cores lowers both) and at the same precision.
"""

from __future__ import annotations

import time

import torch


def default_size(device: str | torch.device) -> int:
    """Large enough to be compute-bound, small enough for several runs in a few seconds."""
    return 8192 if torch.device(device).type == "cuda" else 2048


def matmul_peak(
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    size: int | None = None,
    seconds: float = 2.0,
) -> float:
    """Achieved FLOP/s of a large square matmul (the best of the runs within `seconds`)."""
    size = size or default_size(device)
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    a @ b  # warm-up (thread pools, kernel selection, cuBLAS handles)
    _sync(device)
    best = 0.0
    deadline = time.perf_counter() + seconds
    runs = 0
    while runs < 2 or time.perf_counter() < deadline:
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = max(best, 2 * size**3 / (time.perf_counter() - start))
        runs += 1
    return best


def _sync(device: str | torch.device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
