"""A user's own videos in bulk (`gsfm infer --dataset generic --root DIR`) -> `VideoSample`s.

Two layouts, one per root:

- DAVIS-like: `JPEGImages/<video>/<frame>.jpg|png` and `Annotations/<video>/<frame>.png`,
  masks at any frame where objects appear (as YouTube-VOS gives them): an object joins at the
  first mask that holds its id, and a later mask is trusted only for the objects it brings.
- Video files: `videos/<name>.mp4` (any format `gsfm segment` reads) with `masks/<name>.png`
  for the first frame and/or `masks/<name>/<frame>.png` for later ones, `<frame>` a 0-based
  index or a frame name (00012).

Masks are palette PNGs whose values are object ids (255 = void, as DAVIS), or black-and-white
PNGs of one object. Every video is checked before anything runs (frames readable and of one
size, a mask for every video and a video for every mask, mask sizes equal to the frames'), so
a bad root fails in one line and writes nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

from gsfm.data.datasets import dataset_spec
from gsfm.data.masks import read_labels
from gsfm.data.roots import VideoSample
from gsfm.data.video import VIDEO_SUFFIXES, FolderFrames, FrameSource, VideoFileFrames
from gsfm.errors import InputError

log = logging.getLogger(__name__)

VOID = 255
_PIL_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def list_videos(root: str | Path | None = None) -> list[VideoSample]:
    """Every video under `root` (default ./data/videos), sorted by name, checked."""
    base = Path(root) if root is not None else dataset_spec("generic").root
    if not base.is_dir():
        raise InputError(
            f"folder {base} not found; pass --root with a folder holding JPEGImages/ and "
            "Annotations/, or videos/ and masks/"
        )
    davis_like = (base / "JPEGImages").is_dir() or (base / "Annotations").is_dir()
    files = (base / "videos").is_dir() or (base / "masks").is_dir()
    if davis_like and files:
        raise InputError(
            f"{base} holds both layouts (JPEGImages/ + Annotations/ and videos/ + masks/); "
            "give each its own --root"
        )
    if davis_like:
        pairs = _davis_like(base)
    elif files:
        pairs = _video_files(base)
    else:
        raise InputError(
            f"{base} holds neither JPEGImages/ + Annotations/ (frame folders) nor videos/ + "
            "masks/ (video files)"
        )
    if not pairs:
        raise InputError(f"{base} holds no videos")
    return [_sample(name, source, masks) for name, (source, masks) in sorted(pairs.items())]


def _subfolders(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.name: p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")}


def _pngs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.png") if not p.name.startswith("."))


def _davis_like(base: Path) -> dict[str, tuple[FrameSource, dict[str, Path]]]:
    frames, annotations = _subfolders(base / "JPEGImages"), _subfolders(base / "Annotations")
    for name in sorted(annotations.keys() - frames.keys()):
        raise InputError(
            f"mask folder {annotations[name]} has no video: expected frames in "
            f"{base / 'JPEGImages' / name}"
        )
    out: dict[str, tuple[FrameSource, dict[str, Path]]] = {}
    for name, folder in sorted(frames.items()):
        pngs = _pngs(annotations[name]) if name in annotations else []
        if not pngs:
            raise InputError(
                f"video '{name}' has no mask: expected {base / 'Annotations' / name}/<frame>.png "
                "for the frame where its objects appear"
            )
        out[name] = (FolderFrames(folder), {p.stem: p for p in pngs})
    return out


def _video_files(base: Path) -> dict[str, tuple[FrameSource, dict[str, Path]]]:
    videos_dir, masks_dir = base / "videos", base / "masks"
    videos: dict[str, Path] = {}
    if videos_dir.is_dir():
        for p in sorted(videos_dir.iterdir()):
            if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith("."):
                if p.stem in videos:
                    raise InputError(f"videos {videos[p.stem].name} and {p.name} share a name")
                videos[p.stem] = p
    masks: dict[str, dict[str, Path]] = {}
    if masks_dir.is_dir():
        for p in sorted(masks_dir.iterdir()):
            if p.name.startswith("."):
                continue
            if p.is_file() and p.suffix.lower() == ".png":
                masks.setdefault(p.stem, {})["0"] = p
            elif p.is_dir():
                for png in _pngs(p):
                    masks.setdefault(p.name, {})[png.stem] = png
    for name in sorted(masks.keys() - videos.keys()):
        first = next(iter(masks[name].values()))
        raise InputError(
            f"mask {first} has no video: expected {videos_dir / name}.mp4 (or "
            f"{', '.join(VIDEO_SUFFIXES[1:])})"
        )
    out: dict[str, tuple[FrameSource, dict[str, Path]]] = {}
    for name, path in videos.items():
        if not masks.get(name):
            raise InputError(
                f"video {path} has no mask: expected {masks_dir / name}.png (first frame) or "
                f"{masks_dir / name}/<frame>.png"
            )
        out[name] = (VideoFileFrames(path), masks[name])
    return out


def _frame_of(key: str, names: list[str], index: dict[str, int]) -> int | None:
    """A mask's frame: a frame name, or else a 0-based index; None when neither."""
    if key in index:
        return index[key]
    if key.isdigit() and int(key) < len(names):
        return int(key)
    return None


def _sample(name: str, source: FrameSource, keyed: dict[str, Path]) -> VideoSample:
    """Check one video's masks (frame, size, mode, objects) and build its record."""
    names = list(source.names)
    index = {n: i for i, n in enumerate(names)}
    height, width = source.size
    masks: dict[int, Path] = {}
    modes = set()
    for key, path in keyed.items():
        t = _frame_of(key, names, index)
        if t is None:
            raise InputError(
                f"mask {path} matches no frame of video '{name}' (frames {names[0]}..{names[-1]})"
            )
        if t in masks:
            raise InputError(f"masks {masks[t]} and {path} are both for frame {t} of '{name}'")
        try:
            with Image.open(path) as img:
                size, mode = img.size, img.mode
        except _PIL_ERRORS as exc:
            raise InputError(f"cannot read mask {path}: {exc}") from None
        if size != (width, height):
            raise InputError(
                f"mask {path} is {size[0]}x{size[1]} but the frames of video '{name}' are "
                f"{width}x{height}"
            )
        if mode not in ("P", "L", "1"):
            raise InputError(
                f"mask {path} is an {mode} image; save masks as palette PNGs whose values are "
                "object ids, or black-and-white PNGs of one object"
            )
        modes.add(mode == "P")
        masks[t] = path
    if len(modes) > 1:
        raise InputError(
            f"video '{name}' mixes palette and black-and-white masks; use one kind per video"
        )
    binary = modes == {False}
    objects: dict[int, int] = {}
    for t, path in sorted(masks.items()):
        labels = read_labels(path, binary=binary)
        for obj in (int(v) for v in np.unique(labels) if v not in (0, VOID)):
            objects.setdefault(obj, t)
    if not objects:
        raise InputError(f"the masks of video '{name}' hold no object")
    return VideoSample(
        name=name,
        frames=list(source.files) if isinstance(source, FolderFrames) else [],
        output=[True] * len(names),
        masks=dict(sorted(masks.items())),
        objects=dict(sorted(objects.items())),
        binary=binary,
        source=None if isinstance(source, FolderFrames) else source,
    )
