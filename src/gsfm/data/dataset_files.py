"""Writing the plain files of an official dataset layout: JPEG frames at the datasets' quality
and list files (ImageSets style). Used wherever a dataset is written in its own layout (the
procedural fixtures and benchmark sets, the tests' generic roots)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

JPEG_QUALITY = 90


def write_jpeg(path: Path, frame: np.ndarray) -> None:
    """An RGB frame as a JPEG of the datasets' quality, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame).save(path, quality=JPEG_QUALITY)


def write_lines(path: Path, lines: list[str]) -> None:
    """A list file (ImageSets style): one entry per line, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
