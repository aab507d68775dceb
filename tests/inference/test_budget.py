"""The memory check before a run: hand-worked sizes, the real engine's affinities, refusal."""

from __future__ import annotations

import pytest
import torch

import gsfm.model.readout as readout_module
from gsfm.errors import InputError
from gsfm.inference.budget import (
    attention_bytes,
    check_memory,
    free_bytes,
    memory_frames,
    read_bytes,
)
from gsfm.inference.engine import InferenceEngine


def test_hand_worked_sizes():
    # 854x480 at --size 480: 480x854 -> 30 x ceil(854/16)=54 positions = 1620; fp32 rows of
    # 1620 * 4 = 6480 bytes: one block holds all 1620 queries (32 MiB // 6480 = 5178).
    assert attention_bytes(480, 854, 480, 1) == 1620 * 1620 * 4
    # 40 memory frames: rows of 259,200 bytes, 129 queries at once
    assert attention_bytes(480, 854, 480, 40) == 129 * 1620 * 40 * 4
    # the keys come on top: 64 channels and the squared norm per memory position
    assert read_bytes(480, 854, 480, 40) == 129 * 1620 * 40 * 4 + 1620 * 40 * 65 * 4
    # --size 4096 on a 16:9 video: 4096 x 7282 -> 256 x 456 = 116736 positions; a row of 33
    # memory frames is 15 MB: two queries at a time, ~1 GB of keys.
    assert attention_bytes(1080, 1920, 4096, 33) == 2 * 116736 * 33 * 4
    assert read_bytes(1080, 1920, 4096, 33) > 0.9 * 2**30
    # portrait: the shorter side (width) gets the size; small: every query at once
    assert attention_bytes(200, 100, 32, 2) == (4 * 2) ** 2 * 2 * 4
    # given at 0, written every 3rd frame, the last frame reads 0, 3, ... before it
    assert [memory_frames(n, 3, None) for n in (1, 2, 4, 5, 7, 8)] == [0, 1, 1, 2, 2, 3]
    assert memory_frames(1000, 3, 50) == 50


def test_bound_matches_the_engines_largest_affinity(tiny_net, monkeypatch):
    seen: list[int] = []
    real = readout_module._affinity

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        seen.append(out.numel() * out.element_size())
        return out

    monkeypatch.setattr(readout_module, "_affinity", spy)
    # small blocks, so that the frame's read takes several
    monkeypatch.setattr(readout_module, "AFFINITY_BLOCK_BYTES", 2000)
    frames, height, width = 8, 50, 90
    engine = InferenceEngine(tiny_net, device="cpu", size=64, mem_every=3)
    mask = torch.zeros(height, width, dtype=torch.long)
    mask[10:30, 20:50] = 1
    for t in range(frames):
        frame = torch.rand(3, height, width)
        engine.step(frame, mask if t == 0 else None, last_frame=t == frames - 1)
    assert max(seen) == attention_bytes(height, width, 64, memory_frames(frames, 3, None))


def test_refusal_is_one_line_naming_the_way_out():
    with pytest.raises(InputError) as err:
        check_memory((1080, 1920), 4096, 100, 3, None, "cpu", free=2**29)
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("--size 4096 would need at least ")
    assert "7282x4096 network input, 33 memory frames" in text
    assert "512 MiB free" in text and "--max-memory-frames" in text
    check_memory((480, 854), 480, 100, 3, None, "cpu", free=2**29)  # fits: no error
    with pytest.raises(InputError, match="native size would need"):
        check_memory((4320, 7680), None, 100, 3, None, "cpu", free=2**29)


def test_free_bytes_of_this_machine():
    free = free_bytes("cpu")
    assert free is None or 0 < free < 2**50
    assert free_bytes("mps") is None
