"""Stage 3: 3-frame samples from videos (DAVIS 2017 / YouTube-VOS train, or procedural clips).

Frame indices: a start, then each next frame at most `max_skip` later (clamped to the video),
the whole order reversed half the time; `max_skip` follows the curriculum of the run (divided
by 5 for YouTube-VOS, annotated at every 5th frame). Frame 0's labels (after augmentation)
decide the objects: a target at random and a second one when there is another; with no object
the sample is redrawn, up to 5 times. All frames share one geometric transform (resized crop of
36-100% of the area, 15-degree rotation, shear 10, flip) plus a small per-frame jitter, and one
colour jitter plus a 5% grayscale draw, with a faint per-frame colour jitter on top.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from torch.utils.data import Dataset

from gsfm.data.datasets import DATASETS
from gsfm.data.masks import read_labels
from gsfm.data.roots import TrainVideo
from gsfm.data.video import read_frame
from gsfm.errors import InputError
from gsfm.train import augment as A
from gsfm.train.sampling import SampleKey, sample_rng
from gsfm.train.static import pack_sample

log = logging.getLogger(__name__)

RETRIES = 5
VOID = 255
SYNTHETIC_LENGTH = 10_000  # virtual epoch length of the procedural clip source


class VideoSource(Protocol):
    """Samples `frames` frames of clip `index` with the given max skip."""

    def __len__(self) -> int: ...

    def clip(
        self, index: int, rng: np.random.Generator, frames: int, max_skip: int
    ) -> tuple[np.ndarray, np.ndarray]: ...


def pick_indices(rng: np.random.Generator, length: int, frames: int, max_skip: int) -> list[int]:
    """A start, then each index at most `max_skip` after the previous; reversed half the time."""
    max_skip = max(1, max_skip)
    start = int(rng.integers(0, max(1, length - frames + 1)))
    indices = [start]
    for _ in range(frames - 1):
        indices.append(min(indices[-1] + int(rng.integers(1, max_skip + 1)), length - 1))
    if rng.random() < 0.5:
        indices.reverse()
    return indices


class RecordedVideos:
    """Videos on disk (DAVIS/YouTube-VOS layouts), each possibly repeated."""

    def __init__(self, records: list[tuple[TrainVideo, int]]) -> None:
        self.videos: list[TrainVideo] = []
        for record, repeat in records:
            if len(record.frames) >= 1:
                self.videos.extend([record] * repeat)
        if not self.videos:
            raise InputError("no annotated training videos found")

    def __len__(self) -> int:
        return len(self.videos)

    def clip(
        self, index: int, rng: np.random.Generator, frames: int, max_skip: int
    ) -> tuple[np.ndarray, np.ndarray]:
        video = self.videos[index]
        skip = max(1, max_skip // video.frame_step)
        ids = pick_indices(rng, len(video.frames), frames, skip)
        images = [read_frame(video.frames[i]) for i in ids]
        labels = [read_labels(video.masks[i], binary=video.binary) for i in ids]
        h, w = images[0].shape[:2]
        images = [im if im.shape[:2] == (h, w) else cv2.resize(im, (w, h)) for im in images]
        labels = [
            lb if lb.shape == (h, w) else cv2.resize(lb, (w, h), interpolation=cv2.INTER_NEAREST)
            for lb in labels
        ]
        return np.stack(images), np.stack(labels)


class SyntheticVideos:
    """Procedural clips from `gsfm.data.synthetic.make_clip`, a fresh scene per sample: 1-3
    labelled objects (up to 2 become targets, the others stay in the picture), 0-2 unlabelled
    look-alike distractors, sometimes a late entry, crossing paths (occlusion), scale changes
    and a random speed. Only the sampled frames are rendered."""

    def __init__(self, size: int, length: int = SYNTHETIC_LENGTH) -> None:
        from gsfm.data.synthetic import make_clip

        self.make_clip = make_clip
        self.size = size
        self.length = length

    def __len__(self) -> int:
        return self.length

    def clip(
        self, index: int, rng: np.random.Generator, frames: int, max_skip: int
    ) -> tuple[np.ndarray, np.ndarray]:
        length = frames * max(1, max_skip) + 1
        ids = pick_indices(rng, length, frames, max_skip)
        clip = self.make_clip(
            rng,
            max(ids) + 1,
            self.size,
            self.size * 4 // 3,
            int(rng.integers(1, 4)),
            late_objects=int(rng.random() < 0.2),
            distractors=int(rng.integers(0, 3)),
            motion=float(rng.uniform(0.5, 2.0)),
            only=ids,  # render just the sampled frames
        )
        return np.asarray(clip.frames), np.asarray(clip.masks)


def augment_clip(
    rng: np.random.Generator, images: np.ndarray, labels: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Shared geometric + colour augmentation of a clip, output `size` x `size`."""
    h, w = labels.shape[1:]
    crop = A.resized_crop(rng, (h, w), size, area=(0.36, 1.0))
    centre = (size / 2, size / 2)
    shared = A.random_affine(rng, centre, degrees=15, shear=10, flip=bool(rng.random() < 0.5))
    seq_seed = int(rng.integers(2**63))
    gray = rng.random() < 0.05
    out_images, out_labels = [], []
    for image, label in zip(images, labels):
        jitter = A.random_affine(rng, centre, degrees=3, scale=(0.97, 1.03), shear=2)
        m = jitter @ shared @ crop
        img = A.colour_jitter(rng, A.warp(image, m, size), 0.01, 0.01, 0.01)
        img = A.colour_jitter(np.random.default_rng(seq_seed), img, 0.1, 0.03, 0.03)
        out_images.append(A.grayscale(img) if gray else img)
        out_labels.append(A.warp(label, m, size, nearest=True))
    return np.stack(out_images), np.stack(out_labels)


class VideoSequences(Dataset):
    """Map-style dataset of stage-3 samples keyed by `SampleKey` (see `sampling`)."""

    def __init__(
        self,
        source: VideoSource,
        size: int,
        seed: int,
        max_skip: Any,
        frames: int = 3,
        objects: int = 2,
    ) -> None:
        """`max_skip(iteration) -> int` is the curriculum."""
        self.source = source
        self.size = size
        self.seed = seed
        self.max_skip = max_skip
        self.frames = frames
        self.objects = objects

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: SampleKey) -> dict[str, Any]:
        rng = sample_rng(self.seed, key.position)
        skip = int(self.max_skip(key.iteration))
        index = key.index
        for _ in range(RETRIES):
            images, labels = self.source.clip(index, rng, self.frames, skip)
            images, labels = augment_clip(rng, images, labels, self.size)
            present = [int(v) for v in np.unique(labels[0]) if v not in (0, VOID)]
            if present:
                break
            index = int(rng.integers(len(self.source)))
        order = [int(i) for i in rng.permutation(present)] if present else []
        return pack_sample(images, labels, order, self.objects)


# ----------------------------------------------------------------------------- layouts


def find_videos(root: Path, davis_repeat: int = 5) -> list[tuple[TrainVideo, int]]:
    """DAVIS 2017 train and YouTube-VOS train videos under `root` (either layout, or a folder
    holding them a few levels down, e.g. `gsfm data fixture` output), with repeat counts."""
    from gsfm.data import davis, youtube

    if not root.is_dir():
        raise InputError(f"training data folder {root} not found")
    found: list[tuple[TrainVideo, int]] = []
    for folder in _candidates(root):
        if _is_davis(folder):
            spec = DATASETS["davis2017"]
            videos = davis.train_videos(folder, split=spec.train_split, year=spec.year)
            log.info("stage-3 data: DAVIS 2017 train, %d videos in %s", len(videos), folder)
            found += [(v, davis_repeat) for v in videos]
        else:
            videos = youtube.train_videos(folder)
            log.info("stage-3 data: YouTube-VOS train, %d videos in %s", len(videos), folder)
            found += [(v, 1) for v in videos]
    if not found:
        raise InputError(
            f"no DAVIS 2017 (JPEGImages/480p + Annotations/480p) or YouTube-VOS "
            f"(train/JPEGImages + train/Annotations) training videos under {root}"
        )
    return found


def _candidates(root: Path, depth: int = 3) -> list[Path]:
    """Folders (root first, then a few levels down) that hold one of the two layouts."""
    out, level = [], [root]
    for _ in range(depth + 1):
        nxt = []
        for folder in level:
            if _is_davis(folder) or _is_youtube(folder):
                out.append(folder)
            else:
                nxt += sorted(p for p in folder.iterdir() if p.is_dir())
        level = nxt
    return out


def _is_davis(folder: Path) -> bool:
    return (folder / "JPEGImages" / "480p").is_dir() and (folder / "Annotations" / "480p").is_dir()


def _is_youtube(folder: Path) -> bool:
    train = folder / "train"
    return (train / "JPEGImages").is_dir() and (train / "Annotations").is_dir()
