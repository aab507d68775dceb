"""YouTube-VOS 2018 / 2019 folder layouts -> `VideoSample` (inference) and `TrainVideo`.

Layout (as downloaded): `<root>/<split>/JPEGImages/<video>/<frame>.jpg` holding every 5th frame
of the video (names are original frame numbers: 00000, 00005, ...), `<split>/Annotations/...png`
and `<split>/meta.json` ({"videos": {video: {"objects": {"1": {"category", "frames"}}}}}).
In train every listed frame is annotated. In valid/test an object's mask is given only in the
PNG of its first frame (objects may enter late), and results are scored only on the frames
meta.json lists; `<split>_all_frames/JPEGImages/<video>/` has every frame (00000, 00001, ...)
for running inference at full frame rate.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from gsfm.data.datasets import by_year
from gsfm.data.masks import read_labels
from gsfm.data.roots import TrainVideo, VideoSample, missing
from gsfm.errors import InputError

log = logging.getLogger(__name__)

FRAME_STEP = 5  # the annotated (and 6 fps scored) frames are every 5th original frame


def default_root(year: int = 2019) -> Path:
    """Where a YouTube-VOS year is looked for when no --root is given."""
    return by_year("youtube", year).root


def _split_dir(root: str | Path | None, split: str, year: int) -> tuple[Path, Path]:
    base = Path(root) if root is not None else default_root(year)
    if not base.is_dir():
        raise InputError(
            f"YouTube-VOS folder not found: {base}; pass --root with the folder that holds "
            "train/, valid/ (and valid_all_frames/)"
        )
    folder = base / split
    if not (folder / "JPEGImages").is_dir():
        raise missing(f"YouTube-VOS split '{split}'", folder / "JPEGImages", base)
    return base, folder


def read_meta(path: Path) -> dict[str, dict[str, list[str]]]:
    """meta.json -> {video: {object id: [frame names, sorted]}}."""
    try:
        data = json.loads(path.read_text())
        return {
            vid: {
                str(obj): sorted(info.get("frames", []), key=int)
                for obj, info in entry.get("objects", {}).items()
            }
            for vid, entry in data["videos"].items()
        }
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
        raise InputError(f"cannot read YouTube-VOS metadata {path}: {exc}") from exc


def _objects_from_pngs(pngs: list[Path]) -> dict[str, list[str]]:
    """Without meta.json: each label's first annotated frame (and nothing more is known)."""
    objects: dict[str, list[str]] = {}
    for png in pngs:
        for label in np.unique(read_labels(png)):
            if label != 0 and str(label) not in objects:
                objects[str(label)] = [png.stem]
    return objects


def list_videos(
    root: str | Path | None = None,
    split: str = "valid",
    use_all_frames: bool = True,
    year: int = 2019,
) -> list[VideoSample]:
    """Every video of a split for inference. Frames come from `<split>_all_frames` when it
    exists and `use_all_frames` is set; results are marked for the frames meta.json lists (all
    5th frames when there is no meta.json). `year` only picks the default root."""
    base, folder = _split_dir(root, split, year)
    meta_path = folder / "meta.json"
    meta = read_meta(meta_path) if meta_path.is_file() else None
    if meta is None:
        log.warning("%s not found; taking objects from the annotation PNGs", meta_path)
    names = (
        sorted(meta)
        if meta is not None
        else sorted(p.name for p in (folder / "JPEGImages").iterdir() if p.is_dir())
    )
    all_root = base / f"{split}_all_frames" / "JPEGImages"
    videos = []
    for vid in names:
        sparse = sorted((folder / "JPEGImages" / vid).glob("*.jpg"))
        if not sparse:
            raise missing(f"frames of YouTube-VOS video '{vid}'", folder / "JPEGImages" / vid, base)
        frames = sparse
        if use_all_frames and (all_root / vid).is_dir():
            frames = sorted((all_root / vid).glob("*.jpg")) or sparse
        index = {p.stem: i for i, p in enumerate(frames)}
        pngs = sorted((folder / "Annotations" / vid).glob("*.png"))
        objects = meta[vid] if meta is not None else _objects_from_pngs(pngs)
        wanted = (
            {f for fs in objects.values() for f in fs}
            if meta is not None
            else {p.stem for p in sparse}
        )
        masks, first = {}, {}
        for obj, obj_frames in objects.items():
            if not obj_frames:
                continue
            start = obj_frames[0]
            png = folder / "Annotations" / vid / f"{start}.png"
            if start not in index or not png.is_file():
                raise missing(f"first mask of object {obj} in YouTube-VOS video '{vid}'", png, base)
            masks[index[start]] = png
            first[int(obj)] = index[start]
        videos.append(
            VideoSample(
                name=vid,
                frames=frames,
                output=[p.stem in wanted for p in frames],
                masks=dict(sorted(masks.items())),
                objects=dict(sorted(first.items())),
            )
        )
    return videos


def train_videos(root: str | Path | None = None, year: int = 2019) -> list[TrainVideo]:
    """Every training video with its annotated frames (every 5th frame of the original)."""
    base, folder = _split_dir(root, "train", year)
    videos = []
    for vid_dir in sorted(p for p in (folder / "JPEGImages").iterdir() if p.is_dir()):
        ann = folder / "Annotations" / vid_dir.name
        pairs = [(f, ann / f"{f.stem}.png") for f in sorted(vid_dir.glob("*.jpg"))]
        pairs = [(f, m) for f, m in pairs if m.is_file()]
        if not pairs:
            log.warning("YouTube-VOS video %s has no annotated frame; skipped", vid_dir.name)
            continue
        frames, masks = (list(x) for x in zip(*pairs))
        videos.append(TrainVideo(vid_dir.name, frames, masks, frame_step=FRAME_STEP))
    if not videos:
        raise missing("annotated YouTube-VOS training videos", folder / "Annotations", base)
    return videos
