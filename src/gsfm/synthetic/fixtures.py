"""Small datasets in the exact official DAVIS / YouTube-VOS layouts, drawn by the generator.

The real datasets cannot be downloaded here; tests, the CLI's dataset paths and the training
loop are exercised on these instead. Each layout mirrors the download (folder names, frame
names, PNG modes and palette, split lists, meta.json), at a small size.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np

from gsfm.data.dataset_files import write_jpeg, write_lines
from gsfm.data.datasets import LAYOUTS, dataset_spec
from gsfm.data.masks import DAVIS_PALETTE, write_binary_png, write_palette_png
from gsfm.data.youtube import FRAME_STEP
from gsfm.synthetic.clips import Clip, make_clip

log = logging.getLogger(__name__)

CATEGORIES = ("person", "dog", "cat", "horse", "bird", "car", "fish", "turtle", "duck", "ape")


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def _halves(names: list[str]) -> tuple[list[str], list[str]]:
    """(train, val): val gets the first half (rounded up); a single video is in both."""
    cut = math.ceil(len(names) / 2)
    val, train = names[:cut], names[cut:]
    return (train or val), val


def _davis2017(
    out: Path, seed: int, videos: int, frames: int, size: tuple[int, int], test_dev: bool
) -> None:
    prefix = "synth-td" if test_dev else "synth"
    names = [f"{prefix}-{i:03d}" for i in range(videos)]
    for i, name in enumerate(names):
        clip = make_clip(
            _rng(seed, 2017, int(test_dev), i),
            frames,
            *size,
            num_objects=1 + i % 3,
            distractors=i % 2,
        )
        for t in range(frames):
            write_jpeg(out / "JPEGImages" / "480p" / name / f"{t:05d}.jpg", clip.frames[t])
            if t == 0 or not test_dev:
                png = out / "Annotations" / "480p" / name / f"{t:05d}.png"
                write_palette_png(png, clip.masks[t], DAVIS_PALETTE)
    sets = out / "ImageSets"
    if test_dev:
        write_lines(sets / "2017" / "test-dev.txt", names)
        return
    train, val = _halves(names)
    for split, seqs in (("train", train), ("val", val)):
        write_lines(sets / "2017" / f"{split}.txt", seqs)
        # The 2017 download also lists its DAVIS 2016 subset, names only.
        write_lines(sets / "2016" / f"{split}.txt", seqs[: math.ceil(len(seqs) / 2)])


def _davis2016(out: Path, seed: int, videos: int, frames: int, size: tuple[int, int]) -> None:
    names = [f"synth-{i:03d}" for i in range(videos)]
    per_seq: dict[str, list[str]] = {}
    for i, name in enumerate(names):
        clip = make_clip(_rng(seed, 2016, i), frames, *size, num_objects=1, distractors=i % 2)
        per_seq[name] = []
        for t in range(frames):
            jpg = f"JPEGImages/480p/{name}/{t:05d}.jpg"
            png = f"Annotations/480p/{name}/{t:05d}.png"
            write_jpeg(out / jpg, clip.frames[t])
            write_binary_png(out / png, clip.masks[t] == 1)
            per_seq[name].append(f"/{jpg} /{png}")
    train, val = _halves(names)
    for split, seqs in (("train", train), ("val", val), ("trainval", sorted({*train, *val}))):
        lines = [x for s in seqs for x in per_seq[s]]
        write_lines(out / "ImageSets" / "480p" / f"{split}.txt", lines)


def _youtube_plan(i: int, frames: int) -> tuple[list[int], int]:
    """Per video: each object's entry frame (in 5th-frame units) and the number of distractors.
    Every third video has one object entering late, the next one a late third object."""
    late = frames >= 2
    if i % 3 == 1 and late:
        return [0, max(1, frames // 3)], 0
    if i % 3 == 2:
        return ([0, 0, max(1, frames // 2)] if late else [0, 0, 0]), 1
    return [0, 0], 0


def _video_id(rng: np.random.Generator, taken: set[str]) -> str:
    while True:
        vid = "".join(rng.choice(list("0123456789abcdef"), size=10))
        if vid not in taken:
            taken.add(vid)
            return vid


def _youtube_video(
    split_dir: Path, all_dir: Path | None, vid: str, clip: Clip, categories: list[str]
) -> dict:
    """Write one video of a split; returns its meta.json entry."""
    sparse = list(range(0, len(clip.frames), FRAME_STEP))
    names = [f"{t:05d}" for t in sparse]
    for t, name in zip(sparse, names):
        write_jpeg(split_dir / "JPEGImages" / vid / f"{name}.jpg", clip.frames[t])
    visible = {
        obj: [n for t, n in zip(sparse, names) if (clip.masks[t] == obj).any()]
        for obj in range(1, clip.num_objects + 1)
    }
    visible = {obj: seen for obj, seen in visible.items() if seen}  # never on a 5th frame: drop
    objects = {}
    if all_dir is None:  # train: every listed frame annotated, all objects
        for t, name in zip(sparse, names):
            png = split_dir / "Annotations" / vid / f"{name}.png"
            write_palette_png(png, clip.masks[t], DAVIS_PALETTE)
        for obj, seen in visible.items():
            objects[str(obj)] = {"category": categories[obj - 1], "frames": seen}
        return {"objects": objects}
    # valid / test: a PNG only where some object first appears, holding only those objects.
    first = {obj: seen[0] for obj, seen in visible.items()}
    for name in sorted(set(first.values())):
        labels = clip.masks[int(name)]
        keep = [obj for obj, f in first.items() if f == name]
        write_palette_png(
            split_dir / "Annotations" / vid / f"{name}.png",
            np.where(np.isin(labels, keep), labels, 0),
            DAVIS_PALETTE,
        )
    for t, frame in enumerate(clip.frames):
        write_jpeg(all_dir / vid / f"{t:05d}.jpg", frame)
    for obj, start in first.items():
        objects[str(obj)] = {
            "category": categories[obj - 1],
            "frames": names[names.index(start) :],
        }
    return {"objects": objects}


def _youtube(
    out: Path, seed: int, videos: int, frames: int, size: tuple[int, int], year: int
) -> None:
    total = (frames - 1) * FRAME_STEP + 1  # the every-5th frames are what the dataset keeps
    taken: set[str] = set()
    for s, split in enumerate(("train", "valid", "test")):
        meta: dict[str, dict] = {}
        for i in range(videos):
            rng = _rng(seed, year, s, i)
            vid = _video_id(rng, taken)
            entry, distractors = _youtube_plan(i, frames)
            appear = [k * FRAME_STEP for k in entry]
            clip = make_clip(rng, total, *size, len(appear), appear=appear, distractors=distractors)
            categories = [CATEGORIES[int(k)] for k in rng.integers(len(CATEGORIES), size=3)]
            all_dir = None if split == "train" else out / f"{split}_all_frames" / "JPEGImages"
            meta[vid] = _youtube_video(out / split, all_dir, vid, clip, categories)
        meta_path = out / split / "meta.json"
        meta_path.write_text(json.dumps({"videos": dict(sorted(meta.items()))}, indent=1))


def write_fixture(
    layout: str,
    out: str | Path,
    *,
    seed: int = 0,
    videos: int = 3,
    frames: int = 10,
    size: tuple[int, int] = (240, 432),
) -> Path:
    """Write a dataset of `videos` procedural videos in `layout` (one of LAYOUTS) under `out`.

    frames: frames per DAVIS sequence; for YouTube-VOS the number of kept (every 5th) frames,
    the all-frames copy then holding (frames - 1) * 5 + 1. size: (height, width).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    if videos < 1 or frames < 1:
        raise ValueError(f"need at least 1 video and 1 frame, got {videos} and {frames}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spec = dataset_spec(layout.removesuffix("-test-dev"))
    if spec.family == "youtube":
        _youtube(out, seed, videos, frames, size, spec.year)
    elif spec.year == 2016:
        _davis2016(out, seed, videos, frames, size)
    else:
        _davis2017(out, seed, videos, frames, size, test_dev=layout.endswith("-test-dev"))
    log.info(
        "wrote %s fixture: %d video(s) x %d frames of %dx%d to %s",
        layout,
        videos,
        frames,
        *size,
        out,
    )
    return out
