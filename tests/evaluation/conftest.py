"""Tiny DAVIS datasets written in the official folder layouts, for the evaluation tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# DAVIS-like palette: 0 black, 1 red, 2 green, 3 yellow, ..., 255 white (void).
_PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [0, 0, 128] * 251 + [255, 255, 255]

WritePng = Callable[[Path, np.ndarray], None]


def write_png(path: Path, labels: np.ndarray) -> None:
    """Indexed ('P') PNG whose pixel values are the labels, as DAVIS ships them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.asarray(labels, dtype=np.uint8), mode="P")
    img.putpalette(_PALETTE)
    img.save(path)


def frame_ids(n: int) -> list[str]:
    return [f"{t:05d}" for t in range(n)]


def write_sequence(folder: Path, frames: np.ndarray) -> None:
    for fid, labels in zip(frame_ids(len(frames)), frames):
        write_png(folder / f"{fid}.png", labels)


def moving_boxes(n_frames: int, shape: tuple[int, int], boxes: list[tuple[int, int, int]]):
    """Label maps with square objects (label, top, left), each moving 1 px right per frame."""
    out = np.zeros((n_frames, *shape), dtype=np.uint8)
    for t in range(n_frames):
        for label, top, left in boxes:
            out[t, top : top + 6, left + t : left + t + 6] = label
    return out


@pytest.fixture()
def davis2017(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """DAVIS 2017 layout (split 'val'): 'cars' with 2 objects, 'dog' with 1, 6 frames each."""
    root = tmp_path / "DAVIS2017"
    seqs = {
        "cars": moving_boxes(6, (24, 32), [(1, 3, 2), (2, 14, 10)]),
        "dog": moving_boxes(6, (20, 28), [(1, 6, 5)]),
    }
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("cars\ndog\n")
    for name, frames in seqs.items():
        write_sequence(root / "Annotations" / "480p" / name, frames)
    return root, seqs


@pytest.fixture()
def write_mask() -> WritePng:
    return write_png


@pytest.fixture()
def write_seq() -> WritePng:
    """write_seq(folder, frames[T, H, W]) -> folder/00000.png, 00001.png, ..."""
    return write_sequence
