"""DAVIS 2016 / 2017 folder layouts -> `VideoSample` (inference) and `TrainVideo` (training).

Layouts (as downloaded): `JPEGImages/480p/<seq>/00000.jpg`, `Annotations/480p/<seq>/00000.png`;
split lists in `ImageSets/2017/<split>.txt` (one sequence per line; test-dev ships annotations
for the first frame only) or, for DAVIS 2016, `ImageSets/480p/<split>.txt` whose lines are
`/JPEGImages/480p/<seq>/00000.jpg /Annotations/480p/<seq>/00000.png`. DAVIS 2016 masks are
0/255 single-object PNGs; DAVIS 2017 masks are palette PNGs whose values are object ids.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from gsfm.data.datasets import by_year
from gsfm.data.masks import read_labels
from gsfm.data.roots import TrainVideo, VideoSample, missing
from gsfm.errors import InputError

log = logging.getLogger(__name__)

VOID = 255  # DAVIS marks unlabelled pixels (rare) with 255; never an object


def default_root(year: int = 2017, split: str = "val") -> Path:
    """Where a DAVIS year/split is looked for when no --root is given."""
    return by_year("davis", year).default_root(split)


def _root(root: str | Path | None, year: int, split: str) -> Path:
    path = Path(root) if root is not None else default_root(year, split)
    if not path.is_dir():
        raise InputError(
            f"DAVIS {year} folder not found: {path}; pass --root with the folder that holds "
            "JPEGImages/, Annotations/ and ImageSets/"
        )
    return path


def split_file(root: Path, year: int, split: str) -> Path:
    """The split list: ImageSets/2017/<split>.txt, or for 2016 ImageSets/480p (original
    download) or ImageSets/2016 (the copy inside the DAVIS 2017 download)."""
    if int(year) == 2016:
        candidates = [root / "ImageSets" / d / f"{split}.txt" for d in ("480p", "2016")]
    else:
        candidates = [root / "ImageSets" / "2017" / f"{split}.txt"]
    for path in candidates:
        if path.is_file():
            return path
    raise missing(f"DAVIS {year} split list '{split}'", candidates[0], root)


def parse_split(text: str) -> list[str]:
    """Sequence names of a split file, in file order, each once: 2017 lines are "<seq>",
    2016 lines "/JPEGImages/480p/<seq>/00000.jpg /Annotations/480p/<seq>/00000.png"."""
    names: list[str] = []
    for line in text.splitlines():
        tokens = line.split()
        if not tokens:
            continue
        name = tokens[0].strip("/").split("/")[-2] if "/" in tokens[0] else tokens[0]
        if name not in names:
            names.append(name)
    return names


def read_split(root: str | Path | None, year: int = 2017, split: str = "val") -> list[str]:
    """Sequence names of a split, in file order, each once."""
    return parse_split(split_file(_root(root, year, split), year, split).read_text())


def _frames(root: Path, seq: str, resolution: str) -> list[Path]:
    folder = root / "JPEGImages" / resolution / seq
    frames = sorted(folder.glob("*.jpg"))
    if not frames:
        raise missing(f"frames of DAVIS sequence '{seq}'", folder / "00000.jpg", root)
    return frames


def list_videos(
    root: str | Path | None = None,
    year: int = 2017,
    split: str = "val",
    resolution: str = "480p",
) -> list[VideoSample]:
    """Every sequence of a split, for semi-supervised inference: the first frame's mask is
    given and a result is written for every frame."""
    year = int(year)
    base = _root(root, year, split)
    videos = []
    for seq in read_split(base, year, split):
        frames = _frames(base, seq, resolution)
        first = base / "Annotations" / resolution / seq / f"{frames[0].stem}.png"
        if not first.is_file():
            raise missing(f"first-frame mask of DAVIS sequence '{seq}'", first, base)
        labels = read_labels(first)
        if year == 2016:
            objects = {1: 0} if (labels > 0).any() else {}
        else:
            objects = {int(v): 0 for v in np.unique(labels) if v not in (0, VOID)}
        if not objects:
            log.warning("DAVIS sequence %s: the first-frame mask %s is empty", seq, first)
        videos.append(
            VideoSample(
                name=seq,
                frames=frames,
                output=[True] * len(frames),
                masks={0: first},
                objects=objects,
                binary=year == 2016,
            )
        )
    return videos


def train_videos(
    root: str | Path | None = None,
    split: str = "train",
    year: int = 2017,
    resolution: str = "480p",
) -> list[TrainVideo]:
    """Every sequence of a split with all its annotated frames, for stage-3 training."""
    year = int(year)
    base = _root(root, year, split)
    videos = []
    for seq in read_split(base, year, split):
        frames = _frames(base, seq, resolution)
        ann = base / "Annotations" / resolution / seq
        masks = [ann / f"{f.stem}.png" for f in frames]
        absent = [m for m in masks if not m.is_file()]
        if absent:
            raise missing(
                f"annotations of DAVIS sequence '{seq}' ({len(absent)} of {len(masks)} frames)",
                absent[0],
                base,
            )
        videos.append(TrainVideo(seq, frames, masks, frame_step=1, binary=year == 2016))
    return videos
