"""Benchmark runs: every video of a DAVIS / YouTube-VOS split through the inference engine,
written in the official submission layout.

A thin adapter between the dataset readers (`VideoSample`), the frame loop (`track`) and the
mask writers: given masks are fed at their frames (YouTube-VOS objects join late), and only
the frames a benchmark scores are written, as `<out>/<video>/<frame>.png` with the frame names
kept, in the format the dataset's `DatasetSpec` names (gsfm.data.datasets), with the palette
of the video's annotations, at the frames' original resolution.

Runs resume: PNGs are written atomically, so a video whose folder holds every expected PNG is
finished and skipped. `<out>/.gsfm-infer.json` records the settings that produced the
results, so a resumed run cannot silently mix results of two settings.
"""

from __future__ import annotations

import contextlib
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
from tqdm import tqdm

from gsfm.atomic import atomic_path
from gsfm.data import davis, generic, youtube
from gsfm.data.datasets import dataset_spec
from gsfm.data.masks import (
    DAVIS_PALETTE,
    annotation_palette,
    read_labels,
    write_binary_png,
    write_palette_png,
)
from gsfm.data.overlay import overlay
from gsfm.data.roots import VideoSample
from gsfm.data.submission import write_submission_zip
from gsfm.data.video import FOLDER_FPS, VideoWriter, read_frame
from gsfm.errors import InputError, OutputError
from gsfm.inference.track import track
from gsfm.ownership import lock_names

if TYPE_CHECKING:
    from gsfm.inference.predictor import VideoPredictor

log = logging.getLogger(__name__)

MANIFEST = ".gsfm-infer.json"
MANIFEST_VERSION = 1


def list_videos(dataset: str, split: str, root: str | Path | None = None) -> list[VideoSample]:
    """The split's videos from the dataset's reader (which raises the missing-root errors)."""
    spec = dataset_spec(dataset)
    if spec.family == "davis":
        return davis.list_videos(root, spec.year, split)
    if spec.family == "generic":
        return generic.list_videos(root)
    return youtube.list_videos(root, split, use_all_frames=True, year=spec.year)


def output_names(video: VideoSample) -> list[str]:
    """Frame names that get a result PNG (every frame for DAVIS, the scored ones for YouTube)."""
    return [name for name, wanted in zip(video.frame_names, video.output) if wanted]


def frames_run(video: VideoSample) -> int:
    """Frames a video's run goes through: up to its last scored frame (0 when none is)."""
    return max((i for i, wanted in enumerate(video.output) if wanted), default=-1) + 1


def overlay_path(video: VideoSample, out: Path) -> Path:
    """Where a video's overlay goes with --overlay: beside its folder of masks."""
    return out / f"{video.name}.mp4"


def is_finished(video: VideoSample, out: Path, overlay: bool = False) -> bool:
    """Every expected PNG exists (each is written atomically, so existing means complete),
    and with `overlay` the overlay video too (renamed into place when complete)."""
    folder = out / video.name
    if overlay and not overlay_path(video, out).is_file():
        return False
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
        diff = ", ".join(_change(k, previous, settings) for k in changed)
        raise OutputError(
            f"output folder {out} holds results of other settings ({diff}); pass --overwrite "
            "to redo them, or choose another --out"
        )


def _change(key: str, before: dict[str, Any], now: dict[str, Any]) -> str:
    """One setting's change, as the refusal says it (content hashes shortened and named)."""
    if not key.endswith("sha256"):
        return f"{key} {before.get(key)!r} -> {now.get(key)!r}"

    def short(value: object) -> str:
        return f"{value[:12]}..." if isinstance(value, str) else repr(value)

    was = short(before[key]) if key in before else "not recorded"
    return (
        f"{key} {was} -> {short(now.get(key))}: the weights' content differs from the first run's"
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


def given_masks(video: VideoSample) -> dict[int, np.ndarray]:
    """Frame index -> the label map given there, keeping only the objects it introduces (a
    YouTube-VOS PNG is trusted only for those; DAVIS void 255 is dropped the same way)."""
    given = {}
    for index, path in sorted(video.masks.items()):
        new = video.new_objects(index)
        if not new:
            continue
        labels = read_labels(path, binary=video.binary)
        size = video.frame_shape(index)
        if labels.shape != size:
            raise InputError(
                f"video {video.name}: annotation {path} is {labels.shape[1]}x{labels.shape[0]} "
                f"but its frame is {size[1]}x{size[0]}"
            )
        given[index] = np.where(np.isin(labels, new), labels, 0).astype(np.uint8)
    return given


def segment_video(
    predictor: VideoPredictor,
    video: VideoSample,
    folder: Path,
    *,
    on_frame: Callable[[], None] | None = None,
    overlay_to: Path | None = None,
) -> int:
    """Segment one video into `folder`; returns the number of PNGs written.

    Frames before the first given mask get empty results without running the network, and
    frames after the last scored one are not run at all (online inference: they cannot change
    the scored frames). `overlay_to`: also write the frames run, objects tinted, as a video
    (renamed into place only when complete).
    """
    wanted = [i for i, flag in enumerate(video.output) if flag]
    if not wanted:
        return 0
    for stray in folder.glob(".*.png.*.tmp"):  # an interrupted run's unfinished writes
        stray.unlink(missing_ok=True)
    palette = None
    if not video.binary and video.masks:
        palette = annotation_palette(video.masks[video.start])
    written = 0
    frames = video.frame_inputs()
    with contextlib.ExitStack() as stack:
        writer = None
        if overlay_to is not None:
            fps = video.source.fps if video.source is not None else FOLDER_FPS
            writer = stack.enter_context(VideoWriter(overlay_to, fps))
        for out in track(predictor, frames, given_masks(video), stop=wanted[-1] + 1):
            if video.output[out.index]:
                written += _write_result(folder, video, out.index, out.labels, palette)
            if writer is not None:
                image = out.frame if out.frame is not None else read_frame(frames[out.index])
                colours = DAVIS_PALETTE if palette is None else palette
                writer.write(overlay(image, out.labels, colours))
            if on_frame is not None:
                on_frame()
    return written


def _write_result(
    folder: Path, video: VideoSample, index: int, labels: np.ndarray, palette: np.ndarray | None
) -> int:
    """One result PNG (0/255 without a palette, else palette ids); returns 1."""
    path = folder / f"{video.frame_names[index]}.png"
    try:
        if palette is None:
            write_binary_png(path, labels)
        else:
            write_palette_png(path, labels, palette)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc}") from None
    return 1


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
    overlay: bool = False,
) -> RunSummary:
    """Segment every unfinished video of `videos` into `out/<video>/` (all of them with
    `overwrite`; with `overlay` also `out/<video>.mp4`), with an overall progress bar and one
    per video."""
    summary = RunSummary()
    todo = []
    for video in videos:
        if not overwrite and is_finished(video, out, overlay):
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
            with _bar(total=frames_run(video), desc=video.name, unit="frame", leave=False) as inner:
                summary.masks += segment_video(
                    predictor,
                    video,
                    out / video.name,
                    on_frame=lambda: inner.update(1),
                    overlay_to=overlay_path(video, out) if overlay else None,
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
    prefix = dataset_spec(dataset).zip_prefix_for(split)
    if prefix is None:
        return None
    entries = [(v.name, output_names(v)) for v in videos]
    return write_submission_zip(out, entries, out / f"{dataset}-{split}.zip", prefix)
