"""Inference settings (`EngineConfig`) and the device and precision names, without torch, so
that the command line can build its options from them cheaply.

Every range check of an engine setting lives in `EngineConfig.__post_init__`; the command
line turns its `OptionError` into a message about the flag.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields, replace
from typing import Any

from gsfm.errors import InputError, OptionError

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda", "mps")
# "auto": bf16 for the networks where the device computes bf16 natively, fp32 elsewhere
# (gsfm.inference.device)
PRECISIONS = ("fp32", "bf16", "fp16", "auto")
# Beyond this shorter side the memory read alone needs tens of GB (gsfm.inference.budget);
# larger values are typos (--size 100000 tried to allocate 216 GB).
MAX_SIZE = 4096
# how frames and given masks reach the network's size (gsfm.inference.resize)
ANTIALIAS = "antialias"
ORIGINAL = "original"
RESIZE_MODES = (ANTIALIAS, ORIGINAL)
# which memory the engine keeps (gsfm.inference.memory, gsfm.inference.longterm)
PLAIN, LONG_TERM = "plain", "long-term"
MEMORY_KINDS = (PLAIN, LONG_TERM)


@dataclass(frozen=True)
class EngineConfig:
    """Inference settings. Defaults are the original's DAVIS 2017 / YouTube-VOS ones.

    - top_k: memory entries kept per query position (None = plain softmax over all).
    - mem_every: a frame becomes a memory frame this many frames after the previous one.
    - max_memory_frames: cap on the memory (None = unbounded, as in the benchmarks).
    - size: the network sees frames whose shorter side is `size` pixels (None = native);
      the paper runs at 480p and resizes masks back to the input size.
    - precision: fp32, or bf16/fp16 autocast (fp16 on CUDA only), or "auto": the networks in
      bf16 on a CPU with native bf16 (AVX-512-BF16 or AMX), fp32 elsewhere; the memory and its
      read stay fp32 in every case (`gsfm.inference.device.stage_precisions`). `gsfm segment`,
      `gsfm serve` and `gsfm demo` default to "auto", the Python API and `gsfm infer` to fp32.
    - resize: how frames and given masks are resized to `size` (gsfm.inference.resize):
      "antialias" (default) or "original" (the original's YouTube-VOS loader).
    - reaggregate_on_join: on a frame where objects join while others are tracked, aggregate
      the predictions first and again after writing the new masks in, as the original's
      `interact` does (YouTube-VOS); off, the new masks go over the raw sigmoids and one
      aggregation follows.
    - memory: "plain" (the original's: every memory frame, or with `max_memory_frames` the
      most recent ones plus the first) or "long-term" (gsfm.inference.longterm: given masks,
      recent frames and long-term prototypes chosen by use within `max_memory_frames`).
    - presence: test each object's presence against what the memory read sees and leave it
      empty while absent (gsfm.inference.presence; needs memory "long-term").

    Field metadata drives the command line (`gsfm.cli.options.add_engine_options`): `help`,
    and `zero_is_none` where the flag's 0 stands for None; fields with `cli: False` are set
    by a dataset's spec (`gsfm.data.datasets`), not by a flag.
    """

    top_k: int | None = field(default=50, metadata={"help": "memory top-k"})
    mem_every: int = field(default=3, metadata={"help": "memory frame every N frames"})
    max_memory_frames: int | None = field(
        default=None,
        metadata={"help": "cap the memory at N frames; 0 = unbounded", "zero_is_none": True},
    )
    size: int | None = field(
        default=480,
        metadata={
            "help": "shorter side the network sees, masks are resized back; 0 = native",
            "zero_is_none": True,
        },
    )
    precision: str = field(default="fp32", metadata={"help": "", "choices": PRECISIONS})
    resize: str = field(default=ANTIALIAS, metadata={"cli": False})
    reaggregate_on_join: bool = field(default=False, metadata={"cli": False})
    memory: str = field(
        default=PLAIN,
        metadata={
            "help": "plain: every memory frame, or the most recent within the cap (the "
            "original's); long-term: given masks, recent frames and prototypes kept by use, "
            "within the cap",
            "choices": MEMORY_KINDS,
        },
    )
    presence: bool = field(default=False, metadata={"cli": False})

    def __post_init__(self) -> None:
        _at_least("top_k", self.top_k, 1, "all entries")
        _at_least("mem_every", self.mem_every, 1)
        _at_least("size", self.size, 16, "native")
        if self.size is not None and self.size > MAX_SIZE:
            raise OptionError("size", 16, self.size, "native", maximum=MAX_SIZE)
        _at_least("max_memory_frames", self.max_memory_frames, 2, "unbounded")
        if self.memory == LONG_TERM:  # room for the first frame, 2 working, 1 long-term
            _at_least("max_memory_frames", self.max_memory_frames, 4, "unbounded")
        if self.precision not in PRECISIONS:
            raise InputError(
                f"unknown precision {self.precision!r}; choose from {', '.join(PRECISIONS)}"
            )
        if self.memory not in MEMORY_KINDS:
            raise InputError(
                f"unknown memory {self.memory!r}; choose from {', '.join(MEMORY_KINDS)}"
            )
        if self.presence and self.memory != LONG_TERM:
            raise InputError(
                "the presence test needs the long-term memory (memory 'long-term', --memory "
                "long-term)"
            )
        if self.resize not in RESIZE_MODES:
            raise InputError(
                f"unknown resize mode {self.resize!r}; choose from {', '.join(RESIZE_MODES)}"
            )

    def with_options(self, **options: Any) -> EngineConfig:
        """A copy with some fields replaced; unknown names are a TypeError."""
        known = {f.name for f in fields(self)}
        unknown = set(options) - known
        if unknown:
            raise TypeError(f"unknown engine options: {sorted(unknown)}")
        return replace(self, **options)


def _at_least(name: str, value: int | None, minimum: int, none_means: str | None = None) -> None:
    if value is None and none_means is not None:
        return
    if value is None or value < minimum:
        raise OptionError(name, minimum, value, none_means)


# Inputs longer than this get a memory cap unless the caller asks otherwise.
LONG_INPUT_FRAMES = 500
# 50 memory frames = 150 video frames at mem_every 3 (5-6 s of video): more than a DAVIS clip
# ever stores (<= ~35 memory frames), so short clips are unaffected, while the memory and the
# per-frame attention (T*h*w x h*w affinities) stay bounded (~0.5 GB of fp32 affinity for the
# paper network at 480p) however long the input is.
LONG_INPUT_CAP = 50


def memory_cap(requested: int | None, frames: int) -> int | None:
    """The memory cap of a run over `frames` frames (`gsfm segment`, `gsfm serve`): as asked
    (0 = unbounded), or, when nothing is asked (None), LONG_INPUT_CAP for long inputs."""
    if requested is not None:
        return requested or None
    if frames > LONG_INPUT_FRAMES:
        log.info(
            "long input (%d frames): memory capped at %d frames so that memory use stays flat "
            "(--max-memory-frames 0 for unbounded)",
            frames,
            LONG_INPUT_CAP,
        )
        return LONG_INPUT_CAP
    return None


def long_input_options(
    cap: int | None, memory: str | None, presence: bool | None, frames: int
) -> dict[str, Any]:
    """The memory settings of a run over `frames` frames (`gsfm segment`, `gsfm serve`) as
    EngineConfig fields: each as asked; what is not asked (None) follows the input's length.
    Long inputs (over LONG_INPUT_FRAMES) get the long-term memory within LONG_INPUT_CAP
    frames and the presence test (objects that leave are left empty and found again when
    they return, at a flat memory and speed); shorter ones the original's memory without
    the test. `presence` alone brings the long-term memory it needs."""
    long = frames > LONG_INPUT_FRAMES
    if memory is None:
        memory = LONG_TERM if long or presence else PLAIN
    if presence is None:
        presence = long and memory == LONG_TERM
    return {
        "max_memory_frames": memory_cap(cap, frames),
        "memory": memory,
        "presence": presence,
    }
