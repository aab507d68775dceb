"""Will a run fit in memory? Checked before anything is allocated.

What grows with `--size` and the memory is the memory read: the memory keys (Ck = 64 fp32
values and their squared norm per memory position, at stride 16: h/16 * w/16 positions per
memory frame) and the affinity the read computes, one score per (query position, memory
position), a block of queries at a time (`gsfm.model.readout.affinity_rows`: up to 32 MiB, or
one query's row when a row alone is larger). Both grow with the square of `--size` and with the
memory: at --size 4096 on a 16:9 video one memory frame holds 116,736 positions. Their sum is a
lower bound of what the run needs (values, weights and activations come on top), so refusing a
run whose bound exceeds the free memory never refuses a run that could have finished; it turns
an out-of-memory crash half-way (or a machine thrashing) into one line before the start.
"""

from __future__ import annotations

import logging
import math
import os

import torch

from gsfm.errors import InputError
from gsfm.inference.engine import network_size
from gsfm.model.image import STRIDE
from gsfm.model.readout import affinity_rows

log = logging.getLogger(__name__)

AFFINITY_BYTES = 4  # the engine computes the affinity in fp32 even under autocast
KEY_DIM = 64  # memory key channels of both variants (ModelConfig.key_dim)


def memory_frames(frames: int, mem_every: int, cap: int | None) -> int:
    """Memory frames the last frame of a `frames`-long run reads, with one mask given at
    frame 0: frame 0 plus one every `mem_every` frames before the last one, at most `cap`."""
    if frames < 2:
        return 0
    held = 1 + (frames - 2) // mem_every
    return min(held, cap) if cap else held


def attention_bytes(height: int, width: int, size: int | None, memory: int) -> int:
    """Bytes of the largest affinity block of one frame's read against `memory` memory
    frames (the engine's block of queries, `affinity_rows`)."""
    positions = key_positions(height, width, size)
    return affinity_rows(positions, positions * memory) * positions * memory * AFFINITY_BYTES


def read_bytes(height: int, width: int, size: int | None, memory: int) -> int:
    """Bytes of the memory read of one frame: the memory keys and the affinity block."""
    keys = key_positions(height, width, size) * memory * (KEY_DIM + 1) * AFFINITY_BYTES
    return keys + attention_bytes(height, width, size, memory)


def key_positions(height: int, width: int, size: int | None) -> int:
    """Positions of a key map (stride 16) of a frame at the network's size."""
    h, w = network_size(height, width, size)
    return math.ceil(h / STRIDE) * math.ceil(w / STRIDE)


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
    need = read_bytes(height, width, size, memory)
    have = free_bytes(device) if free is None else free
    if have is None or need <= have:
        return
    h, w = network_size(height, width, size)
    shown = "native size" if size is None else f"--size {size}"
    raise InputError(
        f"{shown} would need at least {amount(need)} on {device} for the memory read "
        f"alone ({w}x{h} network input, {memory} memory frame{'s' * (memory != 1)}), more than "
        f"the {amount(have)} free; use a smaller --size or --max-memory-frames"
    )


def amount(size: int) -> str:
    """Bytes for a message: GiB with one decimal, or whole MiB below 1 GiB."""
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"
