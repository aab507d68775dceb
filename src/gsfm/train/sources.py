"""Build the training dataset of a run from its `--data` entries.

Stage 0: `synthetic` (procedural images, the default) or folders of NAME.jpg + NAME.png.
Stage 3: `synthetic` (procedural clips) or folders holding DAVIS 2017 / YouTube-VOS train in
their official layouts (or a `gsfm data fixture` folder). Several entries are concatenated.
`--hard-mix P` draws a share P of the `synthetic` samples from the hard generator
(`gsfm.synthetic.hard`) instead of the plain one; at 0 (the default) nothing changes.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from gsfm.errors import InputError
from gsfm.synthetic.hard import make_hard_clip, make_hard_static_sample
from gsfm.train.config import SYNTHETIC, TrainConfig
from gsfm.train.static import FolderImages, ProceduralImages, StaticSequences
from gsfm.train.video import ProceduralVideos


class Concat:
    """Several image or video sources seen as one (index ranges laid end to end)."""

    def __init__(self, sources: list[Any]) -> None:
        self.sources = sources
        self.ends = list(np.cumsum([len(s) for s in sources]))

    def __len__(self) -> int:
        return int(self.ends[-1])

    def _locate(self, index: int) -> tuple[Any, int]:
        i = bisect.bisect_right(self.ends, index)
        start = 0 if i == 0 else int(self.ends[i - 1])
        return self.sources[i], index - start

    def load(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        source, local = self._locate(index)
        return source.load(local, rng)

    def clip(
        self, index: int, rng: np.random.Generator, frames: int, max_skip: int
    ) -> tuple[np.ndarray, np.ndarray]:
        source, local = self._locate(index)
        return source.clip(local, rng, frames, max_skip)


class HardImages:
    """Hard procedural image + mask pairs for stage 0 (`make_hard_static_sample`)."""

    def __init__(self, size: int, length: int) -> None:
        self.size = size
        self.length = length

    def __len__(self) -> int:
        return self.length

    def load(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        image, mask = make_hard_static_sample(rng, self.size, self.size)
        return image, (mask > 0).astype(np.uint8) * 255


class HardVideos(ProceduralVideos):
    """Hard procedural clips for stage 3 (`make_hard_clip`): 1-3 labelled objects, 0-2
    look-alikes, 0-2 untracked occluders, a random speed and camera."""

    def render(self, rng: np.random.Generator, length: int, ids: list[int]) -> Any:
        return make_hard_clip(
            rng,
            length,
            self.size,
            self.size * 4 // 3,
            int(rng.integers(1, 4)),
            distractors=int(rng.integers(0, 3)),
            occluders=int(rng.integers(0, 3)),
            motion=float(rng.uniform(0.5, 2.0)),
            camera=float(rng.uniform(0.0, 1.5)),
            only=ids,
        )


class Mixed:
    """The plain procedural source, or the hard one with probability `share` per sample (one
    draw from the sample's own RNG, so a run stays a function of its seed)."""

    def __init__(self, plain: Any, hard: Any, share: float) -> None:
        self.plain, self.hard, self.share = plain, hard, share

    def __len__(self) -> int:
        return len(self.plain)

    def _pick(self, rng: np.random.Generator) -> Any:
        return self.hard if rng.random() < self.share else self.plain

    def load(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return self._pick(rng).load(index, rng)

    def clip(
        self, index: int, rng: np.random.Generator, frames: int, max_skip: int
    ) -> tuple[np.ndarray, np.ndarray]:
        return self._pick(rng).clip(index, rng, frames, max_skip)


def procedural(plain: Any, hard: Any, share: float) -> Any:
    """The `synthetic` source for a hard share: plain (0), hard (1) or a per-sample mix."""
    if share <= 0.0:
        return plain
    if share >= 1.0:
        return hard
    return Mixed(plain, hard, share)


def build_dataset(cfg: TrainConfig) -> Dataset:
    """The map-style dataset (keyed by `SampleKey`) of the run's stage and data."""
    if cfg.stage == 0:
        images: list[Any] = []
        folders = [Path(d) for d in cfg.data if d != SYNTHETIC]
        if SYNTHETIC in cfg.data:
            plain = ProceduralImages(cfg.size)
            images.append(procedural(plain, HardImages(cfg.size, len(plain)), cfg.hard_mix))
        if folders:
            images.append(FolderImages(folders))
        return StaticSequences(
            images[0] if len(images) == 1 else Concat(images),
            cfg.size,
            cfg.seed,
            frames=cfg.num_frames,
            objects=cfg.objects,
            merge_prob=cfg.merge_prob,
        )

    from gsfm.train.video import (
        RecordedVideos,
        SyntheticVideos,
        VideoSequences,
        find_videos,
        read_subset,
    )

    videos: list[Any] = []
    records = []
    subset = read_subset(cfg.yv_subset) if cfg.yv_subset else None
    for entry in cfg.data:
        if entry == SYNTHETIC:
            clips = SyntheticVideos(cfg.size)
            videos.append(procedural(clips, HardVideos(cfg.size, len(clips)), cfg.hard_mix))
        else:
            records += find_videos(Path(entry), cfg.davis_repeat, subset)
    if records:
        videos.append(RecordedVideos(records))
    if not videos:
        raise InputError("no stage-3 training data")
    return VideoSequences(
        videos[0] if len(videos) == 1 else Concat(videos),
        cfg.size,
        cfg.seed,
        max_skip=cfg.max_skip,
        frames=cfg.num_frames,
        objects=cfg.objects,
    )
