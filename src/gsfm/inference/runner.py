"""Benchmark runs: every video of a DAVIS / YouTube-VOS split through the inference engine,
written in the official submission layout.

A thin adapter between the dataset readers (`VideoSample`), `VideoPredictor` and the mask
writers: given masks are fed at their frames (YouTube-VOS objects join late), and only the
frames a benchmark scores are written, as `<out>/<video>/<frame>.png` with the frame names
kept. DAVIS 2016 results are 0/255 grey PNGs (its evaluation reads `mask > 0`); the others are
palette PNGs of object ids with the palette of the video's annotations, at the frames'
original resolution.

Runs resume: PNGs are written atomically, so a video whose folder holds every expected PNG is
finished and skipped. `<out>/.gsfm-infer.json` records the settings that produced the
results, so a resumed run cannot silently mix results of two settings.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from gsfm.atomic import atomic_path
from gsfm.errors import InputError, OutputError
from gsfm.ownership import lock_names

if TYPE_CHECKING:
    from gsfm.data.roots import VideoSample
    from gsfm.inference.predictor import VideoPredictor

log = logging.getLogger(__name__)

MANIFEST = ".gsfm-infer.json"
MANIFEST_VERSION = 1
DEFAULT_SIZE = 480  # shorter side the network sees (spec section 4: 480p)
_PIL_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


@dataclass(frozen=True)
class DatasetSpec:
    """What differs between benchmarks: defaults (spec section 4) and the output format.

    zip_prefix: where the result PNGs go inside the upload zip ("" = zip root); None = no zip
    (results are evaluated locally). `zip_splits` limits zips to splits with hidden ground
    truth (DAVIS test-dev); None = every split.
    """

    name: str
    default_split: str
    top_k: int
    mem_every: int
    binary: bool = False
    zip_prefix: str | None = None
    zip_splits: tuple[str, ...] | None = None


DATASETS: dict[str, DatasetSpec] = {
    "davis2016": DatasetSpec("davis2016", "val", top_k=20, mem_every=3, binary=True),
    "davis2017": DatasetSpec(
        "davis2017",
        "val",
        top_k=50,
        mem_every=3,
        zip_prefix="",
        zip_splits=("test-dev", "test-challenge"),
    ),
    "youtube2018": DatasetSpec(
        "youtube2018", "valid", top_k=50, mem_every=3, zip_prefix="Annotations"
    ),
    "youtube2019": DatasetSpec(
        "youtube2019", "valid", top_k=50, mem_every=3, zip_prefix="Annotations"
    ),
}


def dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise InputError(
            f"unknown dataset {name!r}; choose from {', '.join(sorted(DATASETS))}"
        ) from None


def list_videos(dataset: str, split: str, root: str | Path | None = None) -> list[VideoSample]:
    """The split's videos from the dataset's reader (which raises the missing-root errors)."""
    spec = dataset_spec(dataset)
    if spec.name.startswith("davis"):
        from gsfm.data import davis

        return davis.list_videos(root, int(spec.name[-4:]), split)
    from gsfm.data import youtube

    return youtube.list_videos(root, split, use_all_frames=True, year=int(spec.name[-4:]))


def zip_prefix(dataset: str, split: str) -> str | None:
    """Member prefix of the upload zip for this dataset and split, or None for no zip."""
    spec = dataset_spec(dataset)
    if spec.zip_prefix is None or (spec.zip_splits is not None and split not in spec.zip_splits):
        return None
    return spec.zip_prefix


def output_names(video: VideoSample) -> list[str]:
    """Frame names that get a result PNG (every frame for DAVIS, the scored ones for YouTube)."""
    return [name for name, wanted in zip(video.frame_names, video.output) if wanted]


def is_finished(video: VideoSample, out: Path) -> bool:
    """Every expected PNG exists (each is written atomically, so existing means complete)."""
    folder = out / video.name
    return all((folder / f"{name}.png").is_file() for name in output_names(video))


# ----------------------------------------------------------------------------- output folder


def check_output(out: Path, settings: dict[str, Any], overwrite: bool) -> None:
    """Fail before any work when `out` cannot be written, or holds other results.

    Without --overwrite, `out` must be new, empty, or written by gsfm infer with the same
    settings (then finished videos are skipped).
    """
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"output folder {out} is not writable: {exc.strerror or exc}") from None
    if overwrite:
        return
    previous = read_manifest(out)
    if previous is None:
        if any(p.name not in (MANIFEST, *lock_names()) for p in out.iterdir()):
            raise OutputError(
                f"output folder {out} is not empty and holds no gsfm infer results; pass "
                "--overwrite to write into it, or choose another --out"
            )
        return
    changed = [k for k in sorted({*settings, *previous}) if settings.get(k) != previous.get(k)]
    if changed:
        diff = ", ".join(f"{k} {previous.get(k)!r} -> {settings.get(k)!r}" for k in changed)
        raise OutputError(
            f"output folder {out} holds results of other settings ({diff}); pass --overwrite "
            "to redo them, or choose another --out"
        )


def read_manifest(out: Path) -> dict[str, Any] | None:
    """The settings a previous run recorded in `out`, or None."""
    path = out / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return dict(data["settings"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OutputError(
            f"cannot read {path} ({exc}); pass --overwrite to redo the results"
        ) from None


def start_output(
    out: Path, settings: dict[str, Any], videos: list[VideoSample], overwrite: bool
) -> None:
    """Record the settings; with `overwrite`, first delete these videos' previous results so
    that an interrupted --overwrite run cannot resume into a mix of old and new masks."""
    try:
        if overwrite:
            (out / MANIFEST).unlink(missing_ok=True)
            for video in videos:
                for name in output_names(video):
                    (out / video.name / f"{name}.png").unlink(missing_ok=True)
        with atomic_path(out / MANIFEST) as tmp:
            payload = {"version": MANIFEST_VERSION, "settings": settings}
            tmp.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write to output folder {out}: {exc}") from None


# ----------------------------------------------------------------------------- one video


def read_frame(path: Path) -> np.ndarray:
    """A frame as HxWx3 uint8 RGB."""
    try:
        with Image.open(path) as img:
            return np.array(img.convert("RGB"))
    except _PIL_ERRORS as exc:
        raise InputError(f"cannot read frame {path}: {exc}") from None


def frame_size(path: Path) -> tuple[int, int]:
    """(H, W) from the image header, without decoding."""
    try:
        with Image.open(path) as img:
            width, height = img.size
    except _PIL_ERRORS as exc:
        raise InputError(f"cannot read frame {path}: {exc}") from None
    return height, width


def read_labels(path: Path, binary: bool) -> np.ndarray:
    """An annotation PNG as object ids (binary: any non-zero pixel is object 1)."""
    try:
        with Image.open(path) as img:
            if img.mode in ("P", "L"):
                labels = np.array(img)
            elif binary:
                labels = np.array(img.convert("L"))
            else:  # a colour annotation: one id per colour
                from gsfm.data.masks import read_mask

                labels = read_mask(path).labels
    except _PIL_ERRORS as exc:
        raise InputError(f"cannot read annotation {path}: {exc}") from None
    return (labels > 0).astype(np.uint8) if binary else labels.astype(np.uint8)


def annotation_palette(path: Path) -> list[int] | np.ndarray:
    """The palette of an annotation PNG (DAVIS's when it has none), to colour the results."""
    from gsfm.data.masks import DAVIS_PALETTE

    try:
        with Image.open(path) as img:
            palette = img.getpalette() if img.mode in ("P", "PA") else None
    except _PIL_ERRORS as exc:
        raise InputError(f"cannot read annotation {path}: {exc}") from None
    return palette if palette else DAVIS_PALETTE


def given_mask(video: VideoSample, index: int, size: tuple[int, int]) -> np.ndarray | None:
    """The label map given at frame `index`, keeping only the objects it introduces (a
    YouTube-VOS PNG is trusted only for those; DAVIS void 255 is dropped the same way)."""
    path = video.masks.get(index)
    new = video.new_objects(index)
    if path is None or not new:
        return None
    labels = read_labels(path, video.binary)
    if labels.shape != size:
        raise InputError(
            f"video {video.name}: annotation {path} is {labels.shape[1]}x{labels.shape[0]} but "
            f"its frame is {size[1]}x{size[0]}"
        )
    return np.where(np.isin(labels, new), labels, 0).astype(np.uint8)


def segment_video(
    predictor: VideoPredictor,
    video: VideoSample,
    folder: Path,
    *,
    on_frame: Callable[[], None] | None = None,
) -> int:
    """Segment one video into `folder`; returns the number of PNGs written.

    Frames before the first given mask get empty results without running the network, and
    frames after the last scored one are not run at all (online inference: they cannot change
    the scored frames).
    """
    from gsfm.data.masks import write_binary_png, write_palette_png

    predictor.reset()
    wanted = [i for i, flag in enumerate(video.output) if flag]
    if not wanted:
        return 0
    stop = wanted[-1] + 1
    start = min(video.start, stop)
    palette = None
    if not video.binary and video.masks:
        palette = annotation_palette(video.masks[video.start])
    written = 0

    def write(name: str, labels: np.ndarray) -> None:
        path = folder / f"{name}.png"
        try:
            if palette is None:
                write_binary_png(path, labels)
            else:
                write_palette_png(path, labels, palette)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc}") from None

    for t in range(stop):
        frame_path, name = video.frames[t], video.frame_names[t]
        if t < start:  # no object yet: nothing to predict
            if video.output[t]:
                write(name, np.zeros(frame_size(frame_path), dtype=np.uint8))
                written += 1
        else:
            frame = read_frame(frame_path)
            mask = given_mask(video, t, frame.shape[:2])
            labels = predictor.step(frame, mask, last_frame=t == stop - 1)
            if video.output[t]:
                write(name, labels)  # type: ignore[arg-type]
                written += 1
        if on_frame is not None:
            on_frame()
    return written


# ----------------------------------------------------------------------------- a split


@dataclass
class RunSummary:
    """What a run did: videos segmented and skipped (already finished), PNGs, seconds."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    masks: int = 0
    seconds: float = 0.0
    zip_path: Path | None = None


def run_videos(
    predictor: VideoPredictor,
    videos: list[VideoSample],
    out: Path,
    *,
    overwrite: bool = False,
) -> RunSummary:
    """Segment every unfinished video of `videos` into `out/<video>/` (all of them with
    `overwrite`), with an overall progress bar and one per video."""
    summary = RunSummary()
    todo = []
    for video in videos:
        if not overwrite and is_finished(video, out):
            summary.skipped.append(video.name)
        else:
            todo.append(video)
    if summary.skipped:
        log.info(
            "%d of %d videos already finished in %s: skipped",
            len(summary.skipped),
            len(videos),
            out,
        )
    began = time.perf_counter()
    with _bar(total=len(videos), initial=len(summary.skipped), desc="videos", unit="video") as bar:
        for video in todo:
            frames = (max((i for i, f in enumerate(video.output) if f), default=-1)) + 1
            with _bar(total=frames, desc=video.name, unit="frame", leave=False) as inner:
                summary.masks += segment_video(
                    predictor, video, out / video.name, on_frame=lambda: inner.update(1)
                )
            summary.done.append(video.name)
            bar.update(1)
    summary.seconds = time.perf_counter() - began
    return summary


def _bar(**kwargs: Any) -> tqdm:
    """tqdm on stderr, silent when stderr is not a terminal (logs, CI)."""
    return tqdm(disable=None, dynamic_ncols=True, **kwargs)


def write_zip(dataset: str, split: str, videos: list[VideoSample], out: Path) -> Path | None:
    """The upload zip `<out>/<dataset>-<split>.zip` when the dataset's server wants one."""
    from gsfm.data.submission import write_submission_zip

    prefix = zip_prefix(dataset, split)
    if prefix is None:
        return None
    entries = [(v.name, output_names(v)) for v in videos]
    return write_submission_zip(out, entries, out / f"{dataset}-{split}.zip", prefix)
