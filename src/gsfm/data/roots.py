"""The records the dataset readers return (default folders: gsfm.data.datasets).

The readers (`davis.py`, `youtube.py`) turn each official folder layout into the same two
records, so the inference and training code never needs to know which dataset it reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gsfm.data.video import frame_size
from gsfm.errors import InputError

if TYPE_CHECKING:
    from gsfm.data.video import FrameSource


@dataclass
class VideoSample:
    """One video to segment: the frames in order, which results to write, the given masks.

    masks: frame index -> annotation PNG given as input there. objects: object id -> index of
    the frame whose annotation introduces it (DAVIS: all 0; YouTube-VOS: objects may enter
    later, and the PNG at that frame is only trusted for the objects introduced there).
    output[t]: whether a result must be written for frame t (YouTube-VOS runs on all frames
    but is scored on every 5th). binary: the PNGs are 0/255 single-object masks (DAVIS 2016):
    read them as `labels > 0` -> object 1. source: the frames come from a video file (then
    `frames` is empty and the names are the source's).
    """

    name: str
    frames: list[Path]
    output: list[bool]
    masks: dict[int, Path]
    objects: dict[int, int]
    binary: bool = False
    source: FrameSource | None = None

    @property
    def frame_names(self) -> list[str]:
        """Frame file names without extension; results are written as `<name>.png`."""
        if self.source is not None:
            return list(self.source.names)
        return [p.stem for p in self.frames]

    def frame_inputs(self) -> Iterable[Path | np.ndarray]:
        """What `track()` reads: the frame paths, or the decoded frames of the video file."""
        if self.source is not None:
            return (rgb for _, rgb in self.source)
        return self.frames

    def frame_shape(self, index: int) -> tuple[int, int]:
        """(H, W) of frame `index`, from the header."""
        if self.source is not None:
            return self.source.size
        return frame_size(self.frames[index])

    @property
    def start(self) -> int:
        """Index of the first frame with a given mask (nothing can be predicted before it)."""
        return min(self.masks, default=0)

    def new_objects(self, index: int) -> list[int]:
        """Object ids whose given mask is at frame `index`."""
        return sorted(obj for obj, first in self.objects.items() if first == index)


@dataclass
class TrainVideo:
    """One training video: frames with an annotation PNG for each (same length, same order).

    frame_step: original video frames between consecutive listed frames (YouTube-VOS keeps
    every 5th frame, so a sampler divides its frame skip by 5 there).
    """

    name: str
    frames: list[Path]
    masks: list[Path]
    frame_step: int = 1
    binary: bool = False


def missing(what: str, path: Path, root: Path) -> InputError:
    """The error for a dataset file or folder that is not where the layout puts it."""
    return InputError(
        f"{what} not found: expected {path}; pass --root with the dataset folder (currently {root})"
    )
