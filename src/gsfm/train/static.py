"""Stage 0: 3-frame sequences made from single images (static image + mask pairs).

Each frame gets its own random affine (20 degrees, scale 0.9-1.1, shear 10), crop, light colour
jitter and a small thin-plate-spline warp; the whole sequence then shares one affine (scale
0.8-1.5, flip), colour jitter and a 5% grayscale draw. With probability `merge_prob` a second
image's object is pasted over the first (each with its own motion), giving a two-object sample
with occlusion; the single-object network trains on one of the two at random (the other is a
distractor), a two-object run on both.

Sources: folders of `NAME.jpg` + `NAME.png` pairs (the static datasets of the original), or a
procedural source (`gsfm.data.synthetic.make_static_sample`: textured shapes and scikit-image
photographs) that needs no download.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from gsfm.data.masks import read_labels
from gsfm.data.video import read_frame
from gsfm.errors import InputError
from gsfm.train import augment as A
from gsfm.train.sampling import SampleKey, sample_rng

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg")
PROCEDURAL_LENGTH = 10_000  # virtual epoch length of a procedural source
RETRIES = 5


class ImageSource(Protocol):
    """Image + binary mask pairs, by index (procedural sources may use the RNG)."""

    def __len__(self) -> int: ...

    def load(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]: ...


class FolderImages:
    """Every `X.jpg` with an `X.png` mask beside it, under one or more roots (recursive)."""

    def __init__(self, roots: list[Path]) -> None:
        pairs: list[tuple[Path, Path]] = []
        for root in roots:
            if not root.is_dir():
                raise InputError(f"static image folder {root} not found")
            for image in sorted(root.rglob("*")):
                if image.suffix.lower() in IMAGE_SUFFIXES:
                    mask = image.with_suffix(".png")
                    if mask.is_file():
                        pairs.append((image, mask))
        if not pairs:
            raise InputError(
                f"no image/mask pairs (NAME.jpg + NAME.png) under {', '.join(map(str, roots))}"
            )
        self.pairs = pairs
        log.info("stage-0 data: %d image/mask pairs from %d folder(s)", len(pairs), len(roots))

    def __len__(self) -> int:
        return len(self.pairs)

    def load(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        image_path, mask_path = self.pairs[index]
        image = read_frame(image_path)
        mask = read_labels(mask_path, grey=True)
        if mask.shape != image.shape[:2]:
            mask = cv2.resize(mask, image.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        return image, (mask > 127).astype(np.uint8)


class ProceduralImages:
    """Procedural image + mask pairs generated on the fly (no files, no downloads)."""

    def __init__(self, size: int, length: int = PROCEDURAL_LENGTH) -> None:
        from gsfm.data.synthetic import make_static_sample

        self.make = make_static_sample
        self.size = size
        self.length = length

    def __len__(self) -> int:
        return self.length

    def load(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        image, mask = self.make(rng, self.size, self.size)
        return np.ascontiguousarray(image, dtype=np.uint8), (np.asarray(mask) > 0).astype(np.uint8)


def make_sequence(
    rng: np.random.Generator, image: np.ndarray, mask: np.ndarray, size: int, frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """One image -> `frames` augmented views [T, S, S, 3] uint8 and masks [T, S, S] uint8."""
    image, mask = A.shrink(image, mask, size)
    h, w = mask.shape
    crop = A.square_crop(rng, (h, w), size)
    centre = (size / 2, size / 2)
    shared = A.random_affine(rng, centre, scale=(0.8, 1.5), flip=bool(rng.random() < 0.5))
    images, masks = [], []
    for _ in range(frames):
        own = A.random_affine(rng, (w / 2, h / 2), degrees=20, scale=(0.9, 1.1), shear=10)
        m = shared @ crop @ own
        img = A.warp(image, m, size)
        msk = A.warp(mask, m, size, nearest=True)
        maps = A.tps_maps(rng, size, 0.02)
        img = A.colour_jitter(rng, A.remap(img, maps), 0.1, 0.05, 0.05)
        images.append(img)
        masks.append(A.remap(msk, maps, nearest=True))
    seq_seed = int(rng.integers(2**63))
    images = [
        A.colour_jitter(np.random.default_rng(seq_seed), im, 0.1, 0.05, 0.05, 0.05) for im in images
    ]
    if rng.random() < 0.05:
        images = [A.grayscale(im) for im in images]
    return np.stack(images), np.stack(masks)


class StaticSequences(Dataset):
    """Map-style dataset of stage-0 samples keyed by `SampleKey` (see `sampling`)."""

    def __init__(
        self,
        source: ImageSource,
        size: int,
        seed: int,
        frames: int = 3,
        objects: int = 1,
        merge_prob: float = 0.5,
    ) -> None:
        self.source = source
        self.size = size
        self.seed = seed
        self.frames = frames
        self.objects = objects
        self.merge_prob = merge_prob

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: SampleKey) -> dict[str, Any]:
        rng = sample_rng(self.seed, key.position)
        for _ in range(RETRIES):
            frames, labels = self._draw(rng, key.index)
            if (labels[0] > 0).any():
                break
        return self._pack(rng, frames, labels)

    def _draw(self, rng: np.random.Generator, index: int) -> tuple[np.ndarray, np.ndarray]:
        image, mask = self.source.load(index, rng)
        frames, labels = make_sequence(rng, image, mask, self.size, self.frames)
        if rng.random() < self.merge_prob:
            other = int(rng.integers(len(self.source)))
            image2, mask2 = self.source.load(other, rng)
            frames2, masks2 = make_sequence(rng, image2, mask2, self.size, self.frames)
            over = masks2[..., None] > 0
            frames = np.where(over, frames2, frames)
            labels = np.where(masks2 > 0, 2, labels).astype(np.uint8)
        return frames, labels

    def _pack(self, rng: np.random.Generator, frames: np.ndarray, labels: np.ndarray) -> dict:
        # Only objects visible in frame 0 can be targets; with one slot, pick one at random.
        present = [i for i in (1, 2) if (labels[0] == i).any()] or [1]
        order = [int(i) for i in rng.permutation(present)]
        return pack_sample(frames, labels, order, self.objects)


def pack_sample(
    frames: np.ndarray, labels: np.ndarray, order: list[int], objects: int
) -> dict[str, Any]:
    """Frames [T, H, W, 3] + label maps [T, H, W] -> the trainer's tensors.

    `order` lists the label ids that become objects 1..; missing slots get empty masks and
    selector 0.
    """
    t, h, w = labels.shape
    masks = np.zeros((t, objects, h, w), np.uint8)
    selector = np.zeros(objects, np.float32)
    for slot, label in enumerate(order[:objects]):
        masks[:, slot] = labels == label
        selector[slot] = 1.0
    return {
        "frames": torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2))),
        "masks": torch.from_numpy(masks),
        "selector": torch.from_numpy(selector),
    }
