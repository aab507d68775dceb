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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from gsfm.errors import InputError
from gsfm.train import augment as A
from gsfm.train.sampling import SampleKey, sample_rng
from gsfm.train.static import pack_sample

log = logging.getLogger(__name__)

RETRIES = 5
VOID = 255
SYNTHETIC_LENGTH = 10_000  # virtual epoch length of the procedural clip source


@dataclass(frozen=True)
class VideoRecord:
    """One training video: frame and annotation files in order, and its frame-skip divisor."""

    name: str
    frames: tuple[Path, ...]
    masks: tuple[Path, ...]
    skip_divisor: int = 1  # YouTube-VOS: 5 (annotations at every 5th frame)


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


def read_label(path: Path) -> np.ndarray:
    """An annotation PNG (palette indices, or grey levels) -> HxW uint8 object ids."""
    with Image.open(path) as im:
        if im.mode in ("P", "L"):
            return np.array(im, dtype=np.uint8)
        return (np.array(im.convert("L")) > 127).astype(np.uint8)


def read_frame(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot read frame {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class RecordedVideos:
    """Videos on disk (DAVIS/YouTube-VOS layouts), each possibly repeated."""

    def __init__(self, records: list[tuple[VideoRecord, int]]) -> None:
        self.videos: list[VideoRecord] = []
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
        skip = max(1, max_skip // video.skip_divisor)
        ids = pick_indices(rng, len(video.frames), frames, skip)
        images = [read_frame(video.frames[i]) for i in ids]
        labels = [read_label(video.masks[i]) for i in ids]
        h, w = images[0].shape[:2]
        images = [im if im.shape[:2] == (h, w) else cv2.resize(im, (w, h)) for im in images]
        labels = [
            lb if lb.shape == (h, w) else cv2.resize(lb, (w, h), interpolation=cv2.INTER_NEAREST)
            for lb in labels
        ]
        return np.stack(images), np.stack(labels)


class SyntheticVideos:
    """Procedural clips from `gsfm.data.synthetic.make_clip`: 1-4 objects (the extra ones act
    as distractors) with their motion, occlusions and scale changes, a fresh clip per sample."""

    def __init__(self, size: int, seed: int, length: int = SYNTHETIC_LENGTH) -> None:
        from gsfm.data.synthetic import make_clip

        self.make_clip = make_clip
        self.size = size
        self.seed = seed
        self.length = length

    def __len__(self) -> int:
        return self.length

    def clip(
        self, index: int, rng: np.random.Generator, frames: int, max_skip: int
    ) -> tuple[np.ndarray, np.ndarray]:
        # Only frames up to the last sampled index are generated.
        ids = pick_indices(rng, 10**6, frames, max_skip)
        first = min(ids)
        span = max(ids) - first + 1
        objects = int(rng.integers(1, 5))
        height = self.size
        width = self.size * 4 // 3
        clip_seed = int(rng.integers(2**31))
        images, labels = self.make_clip(clip_seed, span, height, width, objects)
        chosen = [i - first for i in ids]
        return np.asarray(images)[chosen], np.asarray(labels)[chosen]


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


def find_videos(root: Path, davis_repeat: int = 5) -> list[tuple[VideoRecord, int]]:
    """DAVIS 2017 train and YouTube-VOS train videos under `root` (either layout, or a folder
    holding them a few levels down), with their repeat counts."""
    if not root.is_dir():
        raise InputError(f"training data folder {root} not found")
    found: list[tuple[VideoRecord, int]] = []
    for folder in _candidates(root):
        davis = _davis_videos(folder)
        if davis:
            log.info("stage-3 data: DAVIS 2017 train, %d videos in %s", len(davis), folder)
            found += [(v, davis_repeat) for v in davis]
            continue
        youtube = _youtube_videos(folder)
        if youtube:
            log.info("stage-3 data: YouTube-VOS train, %d videos in %s", len(youtube), folder)
            found += [(v, 1) for v in youtube]
    if not found:
        raise InputError(
            f"no DAVIS 2017 (JPEGImages/480p + Annotations/480p) or YouTube-VOS "
            f"(train/JPEGImages + train/Annotations) training videos under {root}"
        )
    return found


def _candidates(root: Path, depth: int = 3) -> list[Path]:
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


def _paired(name: str, images: Path, annotations: Path, divisor: int) -> VideoRecord | None:
    frames, masks = [], []
    for image in sorted(images.glob("*.jpg")):
        mask = annotations / f"{image.stem}.png"
        if mask.is_file():
            frames.append(image)
            masks.append(mask)
    return VideoRecord(name, tuple(frames), tuple(masks), divisor) if frames else None


def _davis_videos(folder: Path) -> list[VideoRecord]:
    if not _is_davis(folder):
        return []
    split = folder / "ImageSets" / "2017" / "train.txt"
    images = folder / "JPEGImages" / "480p"
    if split.is_file():
        names = [n.strip() for n in split.read_text().splitlines() if n.strip()]
    else:
        names = sorted(p.name for p in images.iterdir() if p.is_dir())
    videos = [_paired(n, images / n, folder / "Annotations" / "480p" / n, 1) for n in names]
    return [v for v in videos if v is not None]


def _youtube_videos(folder: Path) -> list[VideoRecord]:
    if not _is_youtube(folder):
        return []
    images = folder / "train" / "JPEGImages"
    annotations = folder / "train" / "Annotations"
    names = sorted(p.name for p in images.iterdir() if p.is_dir())
    videos = [_paired(n, images / n, annotations / n, 5) for n in names]
    return [v for v in videos if v is not None]
