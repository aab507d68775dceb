"""Held-out procedural data: the benchmark set and the bundled sample clip.

Training draws its procedural clips from `make_clip` with generators seeded by
`(train seed, stream position, salt)` (`gsfm.train.sampling.sample_rng`; train seed 42 by
default). The held-out data here uses plain integer seeds from a range of its own, far from
any training seed:

- `HELD_OUT_SEEDS` = 10_000_000 .. 10_009_999 is reserved for evaluation; never train with a
  seed in it (a NumPy key `[s]` equals `[s, 0, 0]`, so a training run with seed s would replay
  clip s at stream position 0).
- `SAMPLE_SEED` (10_000_000): the bundled sample clip (`gsfm demo`).
- benchmark video i uses seed `BENCHMARK_SEED + i` = 10_000_001 + i (i < MAX_BENCHMARK_VIDEOS),
  and its scene parameters (objects, distractors, speed, sizes) come from that seed alone, so
  `--videos 3` is a prefix of the default 12-video set at the same frames and size.

The hard set (`--kind hard`, `gsfm.synthetic.hard`: figures, thin and holed shapes,
bends, objects leaving the frame, 3x scale changes, a moving camera with parallax, motion
blur, colour and light drift, same-texture look-alikes, untracked occluders) has a range of its
own, `HARD_SEEDS` = 10_010_000 .. 10_019_999: hard video i uses seed `HARD_SEED + i`, its
parameters again from that seed alone. The reported sets are videos 0-11 of each kind;
checkpoints and inference settings are chosen on videos 12-35 (`--videos 36`, the reported
twelve left out), never on the reported ones.

The long set (`--kind long`, `gsfm.synthetic.long`: 1,000-5,000 frames, objects leaving the
frame and coming back at another scale, parked behind a pillar, slowly changing texture, cuts
to unrelated scenes with look-alikes; empty ground truth while an object is absent) has
`LONG_SEEDS` = 10_020_000 .. 10_029_999; long video i uses seed `LONG_SEED + i`, its length
(`LONG_FRAMES`, cycling) and parameters from i and that seed alone. Its reported set is
videos 0-3 (`LONG_VIDEOS`); settings are chosen on videos 4-7 (`LONG_VALIDATION`). Frames are
small (`LONG_SIZE`) so that thousands of them stay cheap to segment on a CPU.

The benchmark is written in the DAVIS 2017 layout with every frame annotated and every video
in the `val` split, so `gsfm infer --dataset davis2017 --split val` and `gsfm evaluate` run on
it unchanged. Objects are all present in the first frame (the DAVIS protocol gives only that
mask), cross each other's paths (occlusion), change scale along smooth paths, and share the
scene with one or two unlabelled look-alikes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gsfm.data.dataset_files import write_jpeg, write_lines
from gsfm.data.masks import DAVIS_PALETTE, write_palette_png
from gsfm.synthetic.clips import Clip, make_clip
from gsfm.synthetic.hard import make_hard_clip
from gsfm.synthetic.long import MIN_LONG_FRAMES, LongClip, make_long_clip

log = logging.getLogger(__name__)

HELD_OUT_BASE = 10_000_000
HELD_OUT_SEEDS = range(HELD_OUT_BASE, HELD_OUT_BASE + 10_000)
SAMPLE_SEED = HELD_OUT_BASE
BENCHMARK_SEED = HELD_OUT_BASE + 1
MAX_BENCHMARK_VIDEOS = len(HELD_OUT_SEEDS) - 1
HARD_SEEDS = range(HELD_OUT_BASE + 10_000, HELD_OUT_BASE + 20_000)
HARD_SEED = HARD_SEEDS.start
LONG_SEEDS = range(HELD_OUT_BASE + 20_000, HELD_OUT_BASE + 30_000)
LONG_SEED = LONG_SEEDS.start
KINDS = ("standard", "hard", "long")
REPORTED_VIDEOS = range(0, 12)  # the videos whose scores are reported (standard, hard)
VALIDATION_VIDEOS = range(12, 36)  # where checkpoints and settings are chosen
LONG_VIDEOS = range(0, 4)  # the long set's reported videos
LONG_VALIDATION = range(4, 8)  # where settings for long videos are chosen
LONG_FRAMES = (1000, 2000, 1500, 3000)  # length of long video i: LONG_FRAMES[i % 4]
LONG_SIZE = (192, 336)

DEFAULT_VIDEOS = 12
DEFAULT_FRAMES = 40
DEFAULT_SIZE = (240, 432)
SPLIT = "val"

# The bundled sample clip: long enough to show tracking through occlusion, small enough that
# the demo runs in seconds on a CPU.
SAMPLE_FRAMES = 48
SAMPLE_SIZE = (240, 432)
SAMPLE_OBJECTS = 3
SAMPLE_DISTRACTORS = 1
SAMPLE_FPS = 12.0


@dataclass(frozen=True)
class VideoPlan:
    """Scene parameters of one benchmark video, all drawn from its seed."""

    name: str
    seed: int
    num_objects: int
    distractors: int
    motion: float
    size_range: tuple[float, float]


def benchmark_seed(index: int) -> int:
    """The generator seed of benchmark video `index` (inside HELD_OUT_SEEDS)."""
    if not 0 <= index < MAX_BENCHMARK_VIDEOS:
        raise ValueError(f"benchmark video index must be in 0..{MAX_BENCHMARK_VIDEOS - 1}")
    return BENCHMARK_SEED + index


def video_plan(index: int) -> VideoPlan:
    """1-3 objects (cycling, so every set of 3+ videos has each count), 1-2 look-alike
    distractors, a speed of 0.75-1.75 and object sizes drawn from the seed."""
    seed = benchmark_seed(index)
    rng = np.random.default_rng([seed, 1])  # parameters only; the clip gets default_rng(seed)
    low = float(rng.uniform(0.07, 0.12))
    return VideoPlan(
        name=f"heldout-{index:03d}",
        seed=seed,
        num_objects=1 + index % 3,
        distractors=int(rng.integers(1, 3)),
        motion=round(float(rng.uniform(0.75, 1.75)), 3),
        size_range=(round(low, 3), round(low + float(rng.uniform(0.1, 0.16)), 3)),
    )


@dataclass(frozen=True)
class HardPlan:
    """Scene parameters of one hard video, all drawn from its seed."""

    name: str
    seed: int
    num_objects: int
    distractors: int
    occluders: int
    motion: float
    size_range: tuple[float, float]
    camera: float


def hard_seed(index: int) -> int:
    """The generator seed of hard video `index` (inside HARD_SEEDS)."""
    if not 0 <= index < len(HARD_SEEDS):
        raise ValueError(f"hard video index must be in 0..{len(HARD_SEEDS) - 1}")
    return HARD_SEED + index


def hard_plan(index: int) -> HardPlan:
    """1-3 objects (cycling), 1-2 look-alikes, 0-2 untracked occluders, a speed of 0.75-2,
    sizes and camera strength drawn from the seed."""
    seed = hard_seed(index)
    rng = np.random.default_rng([seed, 1])  # parameters only; the clip gets default_rng(seed)
    low = float(rng.uniform(0.07, 0.12))
    return HardPlan(
        name=f"hard-{index:03d}",
        seed=seed,
        num_objects=1 + index % 3,
        distractors=int(rng.integers(1, 3)),
        occluders=int(rng.integers(0, 3)),
        motion=round(float(rng.uniform(0.75, 2.0)), 3),
        size_range=(round(low, 3), round(low + float(rng.uniform(0.08, 0.14)), 3)),
        camera=round(float(rng.uniform(0.5, 1.5)), 3),
    )


def hard_clip(plan: HardPlan, frames: int, size: tuple[int, int]) -> Clip:
    """The clip of one planned hard video (deterministic)."""
    return make_hard_clip(
        plan.seed,
        frames,
        *size,
        plan.num_objects,
        distractors=plan.distractors,
        occluders=plan.occluders,
        motion=plan.motion,
        size_range=plan.size_range,
        camera=plan.camera,
    )


@dataclass(frozen=True)
class LongPlan:
    """Scene parameters of one long video, all drawn from its index and seed."""

    name: str
    seed: int
    frames: int
    num_objects: int
    distractors: int
    motion: float
    size_range: tuple[float, float]


def long_seed(index: int) -> int:
    """The generator seed of long video `index` (inside LONG_SEEDS)."""
    if not 0 <= index < len(LONG_SEEDS):
        raise ValueError(f"long video index must be in 0..{len(LONG_SEEDS) - 1}")
    return LONG_SEED + index


def long_plan(index: int, frames: int | None = None) -> LongPlan:
    """1-2 objects (alternating), 0-1 look-alike in their scene, a speed of 0.75-1.5, sizes
    from the seed; `frames` (default `LONG_FRAMES[index % 4]`) replaces the length."""
    seed = long_seed(index)
    rng = np.random.default_rng([seed, 1])  # parameters only; the clip gets default_rng(seed)
    low = float(rng.uniform(0.07, 0.1))
    return LongPlan(
        name=f"long-{index:03d}",
        seed=seed,
        frames=frames or LONG_FRAMES[index % len(LONG_FRAMES)],
        num_objects=1 + index % 2,
        distractors=int(rng.integers(0, 2)),
        motion=round(float(rng.uniform(0.75, 1.5)), 3),
        size_range=(round(low, 3), round(low + float(rng.uniform(0.03, 0.06)), 3)),
    )


def long_clip(plan: LongPlan, size: tuple[int, int] = LONG_SIZE) -> LongClip:
    """The (lazily rendered) clip of one planned long video (deterministic)."""
    return make_long_clip(
        plan.seed,
        plan.frames,
        *size,
        plan.num_objects,
        distractors=plan.distractors,
        motion=plan.motion,
        size_range=plan.size_range,
    )


def benchmark_clip(plan: VideoPlan, frames: int, size: tuple[int, int]) -> Clip:
    """The clip of one planned video (deterministic)."""
    return make_clip(
        plan.seed,
        frames,
        *size,
        plan.num_objects,
        distractors=plan.distractors,
        occlusion=True,
        motion=plan.motion,
        size_range=plan.size_range,
    )


def sample_clip() -> Clip:
    """The bundled sample clip, regenerated (scripts/make_sample_clip.py stores it)."""
    return make_clip(
        SAMPLE_SEED,
        SAMPLE_FRAMES,
        *SAMPLE_SIZE,
        SAMPLE_OBJECTS,
        distractors=SAMPLE_DISTRACTORS,
        occlusion=True,
        motion=1.0,
        size_range=(0.12, 0.24),
    )


def max_videos(kind: str) -> int:
    """How many videos a set of `kind` can hold (its seed range)."""
    return {"standard": MAX_BENCHMARK_VIDEOS, "hard": len(HARD_SEEDS), "long": len(LONG_SEEDS)}[
        kind
    ]


def default_size(kind: str) -> tuple[int, int]:
    """Frame size (height, width) of a set of `kind` unless asked otherwise."""
    return LONG_SIZE if kind == "long" else DEFAULT_SIZE


def write_benchmark(
    out: str | Path,
    *,
    videos: int = DEFAULT_VIDEOS,
    frames: int | None = DEFAULT_FRAMES,
    size: tuple[int, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    kind: str = "standard",
) -> list[VideoPlan] | list[HardPlan] | list[LongPlan]:
    """Write the held-out benchmark (`kind` standard, hard or long) under `out` in the DAVIS
    2017 layout; returns the plans.

    Every frame gets a JPEG and a palette PNG of object ids; ImageSets/2017/val.txt lists the
    videos; benchmark.json records the seeds and parameters so a result can be traced back.
    `frames` None: each long video's planned length (40 for the others); `size` None: the
    kind's default. Long videos are rendered and written a chunk at a time.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    limit = max_videos(kind)
    if not 1 <= videos <= limit:
        raise ValueError(f"videos must be in 1..{limit}, got {videos}")
    least = MIN_LONG_FRAMES if kind == "long" else 3
    if frames is not None and frames < least:
        raise ValueError(f"need at least {least} frames for kind {kind}, got {frames}")
    out = Path(out)
    size = size or default_size(kind)
    if kind == "long":
        plans: list = [long_plan(i, frames) for i in range(videos)]
        seeds = LONG_SEEDS
    elif kind == "hard":
        plans = [hard_plan(i) for i in range(videos)]
        seeds = HARD_SEEDS
    else:
        plans = [video_plan(i) for i in range(videos)]
        seeds = HELD_OUT_SEEDS
    for k, plan in enumerate(plans):
        if kind == "long":
            chunks = long_clip(plan, size).chunks()
        else:
            length = frames or DEFAULT_FRAMES
            make = hard_clip if kind == "hard" else benchmark_clip
            chunks = iter([tuple(make(plan, length, size))])
        t = 0
        for images, masks in chunks:
            for image, mask in zip(images, masks):
                write_jpeg(out / "JPEGImages" / "480p" / plan.name / f"{t:05d}.jpg", image)
                png = out / "Annotations" / "480p" / plan.name / f"{t:05d}.png"
                write_palette_png(png, mask, DAVIS_PALETTE)
                t += 1
        if progress is not None:
            progress(k + 1, videos)
    write_lines(out / "ImageSets" / "2017" / f"{SPLIT}.txt", [p.name for p in plans])
    what = {"standard": "procedural benchmark", "hard": "hard procedural set"}.get(
        kind, "long procedural set"
    )
    meta = {
        "description": f"gsfm held-out {what} (never used in training)",
        "kind": kind,
        "held_out_seeds": [seeds.start, seeds.stop - 1],
        "frames": frames if frames or kind == "long" else DEFAULT_FRAMES,
        "size": list(size),
        "split": SPLIT,
        "videos": [asdict(p) for p in plans],
    }
    (out / "benchmark.json").write_text(json.dumps(meta, indent=1) + "\n")
    log.info("wrote %d %s video(s) of %dx%d (WxH) to %s", videos, kind, *size[::-1], out)
    return plans
