"""Named stages of the engine's per-frame work, for profilers and the benchmark.

Each stage runs inside `torch.profiler.record_function(name)`, so `torch.profiler` traces
show them by name, and inside every observer registered with `observe`, so the benchmark
times (or counts the FLOPs of) the real engine without patching or copying it. With no
observer a stage costs one record_function scope (a few microseconds).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from torch.profiler import record_function

# In the order a frame meets them. prepare: resize, normalise and pad the frame; encode_key:
# key encoder (with the spectral LFM); read_memory: affinity and top-k readout; decode: all
# objects' masks (with the spectral HFM); encode_value: the memory write; resize_back: crop
# and resize the probabilities to the input size.
STAGES = ("prepare", "encode_key", "read_memory", "decode", "encode_value", "resize_back")

Observer = Callable[[str], AbstractContextManager[object]]
_observers: list[Observer] = []


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Run the block as stage `name` (one of STAGES)."""
    with record_function(name), contextlib.ExitStack() as stack:
        for observer in tuple(_observers):
            stack.enter_context(observer(name))
        yield


@contextlib.contextmanager
def observe(observer: Observer) -> Iterator[None]:
    """Wrap every stage in `observer(name)` while the block runs."""
    _observers.append(observer)
    try:
        yield
    finally:
        _observers.remove(observer)
