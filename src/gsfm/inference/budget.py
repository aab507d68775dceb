"""Will a run fit in memory? Checked before anything is allocated.

The largest tensor of inference is the memory-read affinity: one score per (query position,
memory position) at stride 16, i.e. (h/16 * w/16)^2 * M values for M memory frames. It grows
with the fourth power of `--size`: at --size 4096 on a 16:9 video one memory frame alone needs
~54 GB. That product is a lower bound of what the run needs (weights and activations come on
top), so refusing a run whose bound exceeds the free memory never refuses a run that could
have finished; it turns an out-of-memory crash half-way (or a machine thrashing) into one line
before the start.
"""

from __future__ import annotations

import logging
import math
import os

import torch

from gsfm.errors import InputError
from gsfm.inference.engine import network_size
from gsfm.model.image import STRIDE

log = logging.getLogger(__name__)

AFFINITY_BYTES = 4  # the engine computes the affinity in fp32 even under autocast


def memory_frames(frames: int, mem_every: int, cap: int | None) -> int:
    """Memory frames the last frame of a `frames`-long run reads, with one mask given at
    frame 0: frame 0 plus one every `mem_every` frames before the last one, at most `cap`."""
    if frames < 2:
        return 0
    held = 1 + (frames - 2) // mem_every
    return min(held, cap) if cap else held


def attention_bytes(height: int, width: int, size: int | None, memory: int) -> int:
    """Bytes of the affinity for one frame read against `memory` memory frames."""
    h, w = network_size(height, width, size)
    positions = math.ceil(h / STRIDE) * math.ceil(w / STRIDE)
    return positions * positions * memory * AFFINITY_BYTES


def free_bytes(device: str) -> int | None:
    """Free memory of `device` ('cpu', 'cuda', 'cuda:1', ...), or None when unknown."""
    kind = device.split(":", 1)[0]
    if kind == "cuda":
        try:
            index = torch.device(device).index
            return int(torch.cuda.mem_get_info(index if index is not None else 0)[0])
        except (RuntimeError, AssertionError):
            return None
    if kind != "cpu":
        return None  # MPS shares the system memory in ways we do not model
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(
    frame_size: tuple[int, int],
    size: int | None,
    frames: int,
    mem_every: int,
    cap: int | None,
    device: str,
    free: int | None = None,
) -> None:
    """InputError (one line) when the memory read alone would not fit into the free memory
    of `device` (`free` overrides the measured amount)."""
    height, width = frame_size
    memory = memory_frames(frames, mem_every, cap)
    need = attention_bytes(height, width, size, memory)
    have = free_bytes(device) if free is None else free
    if have is None or need <= have:
        return
    h, w = network_size(height, width, size)
    shown = "native size" if size is None else f"--size {size}"
    raise InputError(
        f"{shown} would need at least {need / 2**30:.1f} GiB on {device} for the memory read "
        f"alone ({w}x{h} network input, {memory} memory frame{'s' * (memory != 1)}), more than "
        f"the {have / 2**30:.1f} GiB free; use a smaller --size or --max-memory-frames"
    )
