"""The bundled sample clip (48 frames, 3 objects, 432x240): where it is installed and its files.

Used by `gsfm demo`, `gsfm export --check` and the tests, so that one place knows the layout:
`clip.mp4`, `first_mask.png` (palette, frame 0) and `masks/*.png` (ground truth per frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from gsfm.errors import InputError

MASKS_DIR = "masks"


@dataclass
class Sample:
    """The bundled clip's files."""

    video: Path
    first_mask: Path
    masks: list[Path]


def sample_dir() -> Path:
    """Where the bundled sample clip is installed."""
    return Path(str(resources.files("gsfm"))) / "assets" / "sample"


def find_sample(folder: Path) -> Sample:
    """The sample's files, or an InputError saying the installation is incomplete."""
    video, first, masks = folder / "clip.mp4", folder / "first_mask.png", folder / MASKS_DIR
    missing = [p for p in (video, first, masks) if not p.exists()]
    if missing:
        raise InputError(
            f"the bundled sample clip is incomplete ({', '.join(str(p) for p in missing)} "
            "missing); reinstall gsfm, or regenerate it with scripts/make_sample_clip.py"
        )
    return Sample(video, first, sorted(masks.glob("*.png")))
