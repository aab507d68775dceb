"""Stage 3: 3-frame samples from videos (DAVIS 2017 / YouTube-VOS train, or procedural clips).

Frame indices as the original (`pick_indices`): with mj = min(len, max_skip), a start in
0..len-mj, then gaps of 1..mj+1 frames, the second frame clamped to min(len - mj, len - 1) and
the third to min(len - mj // 2, len - 1), the order reversed half the time; `max_skip` follows
the curriculum of the run (divided by 5 for YouTube-VOS, annotated at every 5th frame); videos
with fewer than 3 frames are dropped. Frame 0's labels (after augmentation) decide the objects:
a target at random and a second one when there is another; with no object the same video is
sampled again, up to 5 times (then the sample has no object, as the original's).

Augmentation (`augment_clip`), in the original's order: per sequence (one draw for the 3
frames) a horizontal flip + RandomResizedCrop of 36-100% of the area to `size` (bicubic; masks
nearest), ColorJitter(0.1, 0.03, 0.03, 0) and grayscale with p 0.05; then per frame (a new draw
for each frame) RandomAffine(15 degrees, shear 10; bicubic with the mean-pixel fill, masks
nearest with 0) and ColorJitter(0.01, 0.01, 0.01, 0), so the frames move relative to each other.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from torch.utils.data import Dataset

from gsfm.data import davis, youtube
from gsfm.data.datasets import DATASETS
from gsfm.data.masks import read_labels
from gsfm.data.roots import TrainVideo
from gsfm.data.video import read_frame
from gsfm.errors import InputError
from gsfm.synthetic.clips import make_clip
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


MIN_FRAMES = 3  # the original drops shorter videos


def pick_indices(rng: np.random.Generator, length: int, frames: int, max_skip: int) -> list[int]:
    """The original's frame indices: mj = min(length, max_skip), start in 0..length - mj, each
    next index 1..mj+1 after the previous, clamped to min(length - mj, length - 1) (the last
    one to min(length - mj // 2, length - 1)); the order reversed with probability 0.5."""
    mj = min(length, max_skip)
    indices = [int(rng.integers(0, length - mj + 1))]
    for k in range(1, frames):
        limit = length - mj // 2 if k == frames - 1 else length - mj
        nxt = indices[-1] + int(rng.integers(0, mj + 1)) + 1
        indices.append(min(nxt, limit, length - 1))
    if rng.random() < 0.5:
        indices.reverse()
    return indices


class RecordedVideos:
    """Videos on disk (DAVIS/YouTube-VOS layouts), each possibly repeated."""

    def __init__(self, records: list[tuple[TrainVideo, int]]) -> None:
        self.videos: list[TrainVideo] = []
        short = 0
        for record, repeat in records:
            if len(record.frames) >= MIN_FRAMES:
                self.videos.extend([record] * repeat)
            else:
                short += 1
        if short:
            log.info("dropped %d video(s) with fewer than %d frames", short, MIN_FRAMES)
        if not self.videos:
            raise InputError(f"no annotated training videos with at least {MIN_FRAMES} frames")

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


class ProceduralVideos:
    """A fresh procedural scene per sample, of which only the sampled frames are rendered:
    the frame indices are drawn first (the stage-3 rule over a clip just long enough for
    `max_skip`), then `render` draws the scene."""

    def __init__(self, size: int, length: int = SYNTHETIC_LENGTH) -> None:
        self.size = size
        self.length = length

    def __len__(self) -> int:
        return self.length

    def clip(
        self, index: int, rng: np.random.Generator, frames: int, max_skip: int
    ) -> tuple[np.ndarray, np.ndarray]:
        ids = pick_indices(rng, frames * max(1, max_skip) + 1, frames, max_skip)
        clip = self.render(rng, max(ids) + 1, ids)
        return np.asarray(clip.frames), np.asarray(clip.masks)

    def render(self, rng: np.random.Generator, length: int, ids: list[int]) -> Any:
        """The scene's clip (with `.frames` and `.masks`), rendered at frames `ids` only."""
        raise NotImplementedError


class SyntheticVideos(ProceduralVideos):
    """Plain procedural clips from `gsfm.synthetic.clips.make_clip`: 1-3 labelled objects (up
    to 2 become targets, the others stay in the picture), 0-2 unlabelled look-alike
    distractors, sometimes a late entry, crossing paths (occlusion), scale changes and a
    random speed."""

    def render(self, rng: np.random.Generator, length: int, ids: list[int]) -> Any:
        return make_clip(
            rng,
            length,
            self.size,
            self.size * 4 // 3,
            int(rng.integers(1, 4)),
            late_objects=int(rng.random() < 0.2),
            distractors=int(rng.integers(0, 3)),
            motion=float(rng.uniform(0.5, 2.0)),
            only=ids,
        )


def augment_clip(
    rng: np.random.Generator, images: np.ndarray, labels: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sequence crop/flip/colour, then a per-frame affine + faint colour jitter."""
    h, w = labels.shape[1:]
    flip = bool(rng.random() < 0.5)
    box = A.resized_crop_box(rng, (h, w), scale=(0.36, 1.0))
    jitter = A.draw_jitter(rng, 0.1, 0.03, 0.03, 0.0)
    gray = bool(rng.random() < 0.05)
    centre = ((size - 1) / 2, (size - 1) / 2)
    out_images, out_labels = [], []
    for image, label in zip(images, labels):
        img = A.crop_resize(image, box, size)
        lbl = A.crop_resize(label, box, size, nearest=True)
        if flip:
            img, lbl = img[:, ::-1], lbl[:, ::-1]
        img = A.apply_jitter(img, jitter)
        if gray:
            img = A.grayscale(img)
        m = A.random_affine(rng, centre, degrees=15, shear=10)
        img = A.warp(np.ascontiguousarray(img), m, size, cubic=True)
        lbl = A.warp(np.ascontiguousarray(lbl), m, size, nearest=True)
        out_images.append(A.colour_jitter(rng, img, 0.01, 0.01, 0.01))
        out_labels.append(lbl)
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
        for _ in range(RETRIES):  # the original retries the same video
            images, labels = self.source.clip(key.index, rng, self.frames, skip)
            images, labels = augment_clip(rng, images, labels, self.size)
            present = [int(v) for v in np.unique(labels[0]) if v not in (0, VOID)]
            if present:
                break
        order = [int(i) for i in rng.permutation(present)] if present else []
        return pack_sample(images, labels, order, self.objects)


# ----------------------------------------------------------------------------- layouts


def read_subset(path: str | Path) -> set[str]:
    """A video-name list (one per line, like the original's `yv_subset.txt`)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InputError(f"cannot read the video subset list {path}: {exc}") from None
    names = {line.strip() for line in text.splitlines() if line.strip()}
    if not names:
        raise InputError(f"the video subset list {path} names no video")
    return names


def find_videos(
    root: Path, davis_repeat: int = 5, yv_subset: set[str] | None = None
) -> list[tuple[TrainVideo, int]]:
    """DAVIS 2017 train and YouTube-VOS train videos under `root` (either layout, or a folder
    holding them a few levels down, e.g. `gsfm data fixture` output), with repeat counts.
    `yv_subset` keeps only the YouTube-VOS videos it names (the original's filtered list)."""
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
            if yv_subset is not None:
                videos = [v for v in videos if v.name in yv_subset]
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
