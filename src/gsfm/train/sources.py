"""Build the training dataset of a run from its `--data` entries.

Stage 0: `synthetic` (procedural images, the default) or folders of NAME.jpg + NAME.png.
Stage 3: `synthetic` (procedural clips) or folders holding DAVIS 2017 / YouTube-VOS train in
their official layouts (or a `gsfm data fixture` folder). Several entries are concatenated.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from gsfm.errors import InputError
from gsfm.train.config import SYNTHETIC, TrainConfig


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


def build_dataset(cfg: TrainConfig) -> Dataset:
    """The map-style dataset (keyed by `SampleKey`) of the run's stage and data."""
    if cfg.stage == 0:
        from gsfm.train.static import FolderImages, ProceduralImages, StaticSequences

        images: list[Any] = []
        folders = [Path(d) for d in cfg.data if d != SYNTHETIC]
        if SYNTHETIC in cfg.data:
            images.append(ProceduralImages(cfg.size))
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
            videos.append(SyntheticVideos(cfg.size))
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
