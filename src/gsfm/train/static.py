"""Stage 0: 3-frame sequences made from single images (static image + mask pairs).

In the original's order (`make_sequence`): per sequence (one draw for the 3 frames) an affine
of scale 0.8-1.5 + horizontal flip, ColorJitter(0.1, 0.05, 0.05, 0.05) and grayscale with p
0.05; per frame (a new draw each) RandomAffine(20 degrees, scale 0.9-1.1, shear 10), resize of
the shorter side to `size`, a RandomCrop of `size` at its own position, ColorJitter(0.1, 0.05,
0.05, 0), and with probability 0.33 a thin-plate-spline warp (scale 0.02). The geometric steps
are composed into one bicubic warp per frame (big sources are area-downscaled first). Masks
stay soft (grey levels) for the boundary target; the class target is mask > 0.5.

Optionally (`merge_prob`, off in the paper recipe: the original has no such step) a second
image's object is pasted over the first (each with its own motion), giving a two-object sample
with occlusion; the single-object network trains on one of the two at random (the other is a
distractor), a two-object run on both.

Sources: folders of `NAME.jpg` + `NAME.png` pairs (the static datasets of the original), or a
procedural source (`gsfm.synthetic.clips.make_static_sample`: textured shapes and scikit-image
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
from gsfm.synthetic.clips import make_static_sample
from gsfm.train import augment as A
from gsfm.train.sampling import SampleKey, sample_rng

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg")
PROCEDURAL_LENGTH = 10_000  # virtual epoch length of a procedural source
TPS_PROB = 0.33  # the original warps a frame with a thin-plate spline this often


class ImageSource(Protocol):
    """Image + soft mask (uint8 0..255) pairs, by index (procedural sources may use the RNG)."""

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
        return image, mask  # grey levels kept (soft)


class ProceduralImages:
    """Procedural image + mask pairs generated on the fly (no files, no downloads)."""

    def __init__(self, size: int, length: int = PROCEDURAL_LENGTH) -> None:
        self.make = make_static_sample
        self.size = size
        self.length = length

    def __len__(self) -> int:
        return self.length

    def load(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        image, mask = self.make(rng, self.size, self.size)
        binary = (np.asarray(mask) > 0).astype(np.uint8) * 255
        return np.ascontiguousarray(image, dtype=np.uint8), binary


def make_sequence(
    rng: np.random.Generator,
    image: np.ndarray,
    mask: np.ndarray,
    size: int,
    frames: int,
    tps_prob: float = TPS_PROB,
) -> tuple[np.ndarray, np.ndarray]:
    """One image + soft mask (0..255) -> `frames` views [T, S, S, 3] and masks [T, S, S]
    (uint8, soft), drawn in the original's order (see the module docstring)."""
    image, mask = A.shrink(image, mask, size)
    h, w = mask.shape
    centre = ((w - 1) / 2, (h - 1) / 2)
    # (a) per sequence
    seq = A.random_affine(rng, centre, scale=(0.8, 1.5))
    if rng.random() < 0.5:
        seq = A.flip_x(w) @ seq
    base = A.apply_jitter(image, A.draw_jitter(rng, 0.1, 0.05, 0.05, 0.05))
    if rng.random() < 0.05:
        base = A.grayscale(base)
    # Resize(size): the shorter side to `size`, the longer one truncated as torchvision does
    short, long = min(h, w), max(h, w)
    resized_long = int(size * long / short)
    rh, rw = (size, resized_long) if h <= w else (resized_long, size)
    images, masks = [], []
    for _ in range(frames):
        # (b) per frame
        own = A.random_affine(rng, centre, degrees=20, scale=(0.9, 1.1), shear=10)
        top = int(rng.integers(0, rh - size + 1))
        left = int(rng.integers(0, rw - size + 1))
        m = A.translation(-left, -top) @ A.scaling(rw / w, rh / h) @ own @ seq
        img = A.warp(base, m, size, cubic=True)
        msk = A.warp(mask, m, size, cubic=True)
        img = A.colour_jitter(rng, img, 0.1, 0.05, 0.05)
        # (c) thin-plate spline, some of the frames
        if rng.random() < tps_prob:
            maps = A.tps_maps(rng, size, 0.02)
            img, msk = A.remap(img, maps), A.remap(msk, maps, nearest=True)
        images.append(img)
        masks.append(msk)
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
        merge_prob: float = 0.0,
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
        image, mask = self.source.load(key.index, rng)
        frames, soft = make_sequence(rng, image, mask, self.size, self.frames)
        objects = [soft]
        if rng.random() < self.merge_prob:
            other = int(rng.integers(len(self.source)))
            image2, mask2 = self.source.load(other, rng)
            frames2, soft2 = make_sequence(rng, image2, mask2, self.size, self.frames)
            over = soft2 > 127
            frames = np.where(over[..., None], frames2, frames)
            objects = [np.where(over, 0, soft).astype(np.uint8), soft2]
        # Only objects visible in frame 0 can be targets; with one slot, pick one at random.
        present = [i for i, m in enumerate(objects) if (m[0] > 127).any()] or [0]
        order = [int(i) for i in rng.permutation(present)]
        return pack_soft_sample(frames, [objects[i] for i in order], self.objects)


def pack_soft_sample(frames: np.ndarray, objects: list[np.ndarray], slots: int) -> dict[str, Any]:
    """Frames [T, H, W, 3] + soft object masks (each [T, H, W], 0..255) -> the trainer's
    tensors, masks float in [0, 1] (soft: the boundary target sees the grey levels; the class
    target is mask > 0.5). Missing slots get empty masks and selector 0."""
    t, h, w = frames.shape[:3]
    masks = np.zeros((t, slots, h, w), np.float32)
    selector = np.zeros(slots, np.float32)
    selector[0] = 1.0  # the target slot always counts (an empty target, as the original)
    for slot, soft in enumerate(objects[:slots]):
        masks[:, slot] = soft.astype(np.float32) / 255.0
        selector[slot] = 1.0
    return {
        "frames": torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2))),
        "masks": torch.from_numpy(masks),
        "selector": torch.from_numpy(selector),
    }


def pack_sample(
    frames: np.ndarray, labels: np.ndarray, order: list[int], objects: int
) -> dict[str, Any]:
    """Frames [T, H, W, 3] + label maps [T, H, W] -> the trainer's tensors.

    `order` lists the label ids that become objects 1..; missing slots get empty masks and
    selector 0, except the target slot (no object at all: an empty target, as the original).
    """
    t, h, w = labels.shape
    masks = np.zeros((t, objects, h, w), np.uint8)
    selector = np.zeros(objects, np.float32)
    selector[0] = 1.0
    for slot, label in enumerate(order[:objects]):
        masks[:, slot] = labels == label
        selector[slot] = 1.0
    return {
        "frames": torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2))),
        "masks": torch.from_numpy(masks),
        "selector": torch.from_numpy(selector),
    }
