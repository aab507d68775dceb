"""Frames in (a video file or a folder of images) and videos out, one frame at a time.

`open_frames` checks what it can up front (the file opens and its first frame decodes; a
folder's frames all have readable headers of one size) so a bad input fails before any work,
then yields frames lazily: a long video is never held in memory. A video's frames are counted
from its packets, never taken from its header: a header may claim 2**31 frames for a file of
five (the count is a hint, never an allocation size), and more than `MAX_VIDEO_FRAMES` is
refused in one line. Videos are decoded with PyAV
and turned upright by their rotation metadata, and image frames by their EXIF orientation, as
players and viewers show them (so a mask drawn on the shown frame fits). `VideoWriter` writes to a
temporary name and renames on success, so an interrupted run leaves no half-written video.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np
from PIL import Image, ImageOps

from gsfm.atomic import publish_file
from gsfm.errors import InputError, OutputError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".webm", ".mkv")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
FOLDER_FPS = 24.0
MAX_VIDEO_FRAMES = 1_000_000  # 9 hours at 30 frames/s; one name per frame is kept in memory
_PIL_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)
_EXIF_ORIENTATION = 0x0112
_TRANSPOSED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def open_frames(path: str | os.PathLike[str]) -> FrameSource:
    """A video file (any format FFmpeg reads) or a folder of JPEG/PNG frames, as a FrameSource."""
    path = Path(path)
    if path.is_dir():
        return FolderFrames(path)
    if path.is_file():
        return VideoFileFrames(path)
    raise InputError(f"input {path} not found")


class FrameSource:
    """Frames of one input: `len()`, `names` (output names, no extension), `fps`, `size` (H, W),
    and iteration yielding `(name, HxWx3 uint8 RGB)` one frame at a time."""

    path: Path
    names: list[str]
    fps: float
    size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        raise NotImplementedError


# ----------------------------------------------------------------------------- folders


def natural_key(name: str) -> list[Any]:
    """Sort key putting frame2 before frame10: digit runs compare as numbers."""
    parts = re.split(r"(\d+)", name)
    return [int(p) if i % 2 else p.lower() for i, p in enumerate(parts)]


class FolderFrames(FrameSource):
    """JPEG/PNG frames of a folder in natural name order; other and hidden files are ignored."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            files = [
                p
                for p in path.iterdir()
                if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
            ]
        except OSError as err:
            raise InputError(f"cannot list the frames of {path}: {err}") from err
        if not files:
            raise InputError(f"folder {path} has no JPEG or PNG frames")
        self.files = sorted(files, key=lambda p: (natural_key(p.name), p.name))
        self.names = [p.stem for p in self.files]
        seen: dict[str, Path] = {}
        for p in self.files:
            if p.stem in seen:
                raise InputError(
                    f"frames {seen[p.stem].name} and {p.name} in {path} have the same name; "
                    "keep one of them"
                )
            seen[p.stem] = p
        self.fps = FOLDER_FPS
        self.size = self._check_sizes()

    def _check_sizes(self) -> tuple[int, int]:
        """Read every header (cheap, no decoding): all frames must share the first one's size."""
        first: tuple[int, int] | None = None
        for p in self.files:
            h, w = frame_size(p)
            if first is None:
                first = (h, w)
            elif (h, w) != first:
                raise InputError(
                    f"frame {p} is {w}x{h} but the frames before it are {first[1]}x{first[0]}; "
                    "all frames must have one size"
                )
        assert first is not None
        return first

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for name, p in zip(self.names, self.files):
            yield name, self._read(p)

    def _read(self, p: Path) -> np.ndarray:
        rgb = read_frame(p)
        if rgb.shape[:2] != self.size:
            raise InputError(f"frame {p} changed size while being read")
        return rgb


def read_frame(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file as HxWx3 uint8 RGB, turned upright by its EXIF orientation as viewers
    show it: the one frame reader of segment, infer, evaluate and training."""
    try:
        with Image.open(path) as img:
            img.load()
            return _to_rgb(ImageOps.exif_transpose(img) if _orientation(img) > 1 else img)
    except _PIL_ERRORS as err:
        raise InputError(f"cannot decode frame {path}: {err}") from err


def frame_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(H, W) of an image file as `read_frame` returns it, from the header (no decoding)."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            if _orientation(img) in _TRANSPOSED:
                width, height = height, width
    except _PIL_ERRORS as err:
        raise InputError(f"cannot read frame {path}: {err}") from err
    return height, width


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation tag (1 = upright, also when there is none or it is invalid)."""
    try:
        value = img.getexif().get(_EXIF_ORIENTATION, 1)
    except _PIL_ERRORS:  # a damaged EXIF block: show the pixels as stored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Any PIL image as HxWx3 uint8 RGB (16-bit grey scaled down rather than clipped)."""
    if img.mode.startswith("I;16"):
        grey = (np.asarray(img).astype(np.uint32) // 257).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.array(img.convert("RGB"))  # a writable copy (asarray of PIL is read-only)


# ----------------------------------------------------------------------------- video files


class VideoFileFrames(FrameSource):
    """The first video stream of a file, decoded with PyAV; names are 00000, 00001, ..."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise InputError(
                        f"cannot read video {path}: no video stream found (not a video, "
                        "or a truncated file)"
                    )
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate or stream.base_rate
                announced = stream.frames  # the header's word: a hint, checked below
                first = next(iter(container.decode(stream)), None)
        except (av.error.FFmpegError, OSError) as err:
            raise InputError(f"cannot read video {path}: {_reason(err)}") from err
        if first is None:
            raise InputError(f"video {path} has no frames that decode")
        if rate:
            self.fps = float(rate)
        else:
            log.warning("video %s does not say its frame rate; assuming %g", path, FOLDER_FPS)
            self.fps = FOLDER_FPS
        height, width = _upright(first).shape[:2]
        self.size = (int(height), int(width))
        self.count = self._count(announced)
        self.names = [f"{i:05d}" for i in range(self.count)]

    def _count(self, announced: int) -> int:
        """The frames the file holds, counted from its packets (no decoding; one pass over
        the file at the speed of reading it). `announced` (the header's count, 0 when it
        does not say) only tells a truncated file from a whole one."""
        counted, cut = 0, False
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                for packet in container.demux(stream):
                    if packet.size <= 0 or packet.is_discard:
                        continue
                    counted += 1
                    cut = packet.is_corrupt  # the last packet cut short: the file ends early
                    if counted > MAX_VIDEO_FRAMES:
                        raise InputError(
                            f"video {self.path} has more than {MAX_VIDEO_FRAMES:,} frames, more "
                            "than gsfm reads from one video; cut it into parts (e.g. ffmpeg -i "
                            "IN -ss START -t SECONDS OUT.mp4)"
                        )
        except (av.error.FFmpegError, OSError) as err:
            raise InputError(f"cannot read video {self.path}: {_reason(err)}") from err
        if 0 < counted < announced:
            if cut:
                raise InputError(
                    f"video {self.path} ends after {counted} of its {announced} frames; the file "
                    "is truncated or damaged (re-encode it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4)"
                )
            log.warning(
                "video %s says it has %d frames but holds %d; reading those %d",
                self.path,
                announced,
                counted,
                counted,
            )
        return counted

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        index = 0
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    if index >= self.count:
                        log.warning(
                            "%s decodes to more frames than the %d it announces; the rest "
                            "are ignored",
                            self.path,
                            self.count,
                        )
                        return
                    if frame.is_corrupt:
                        log.warning("frame %d of %s is damaged (decoded anyway)", index, self.path)
                    rgb = _upright(frame)
                    if rgb.shape[:2] != self.size:
                        raise InputError(
                            f"frame {index} of {self.path} is {rgb.shape[1]}x{rgb.shape[0]}, "
                            f"not {self.size[1]}x{self.size[0]} like the first; re-encode the "
                            "video at one size"
                        )
                    yield self.names[index], rgb
                    index += 1
        except av.error.FFmpegError as err:
            raise InputError(f"cannot decode frame {index} of {self.path}: {_reason(err)}") from err
        if index < self.count:
            raise InputError(
                f"video {self.path} ended after {index} of its {self.count} frames; the file is "
                "truncated or damaged (re-encode it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4)"
            )


def _upright(frame: av.VideoFrame) -> np.ndarray:
    """RGB pixels turned by the frame's display rotation (counter-clockwise degrees)."""
    rgb = frame.to_ndarray(format="rgb24")
    turns = round((frame.rotation or 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def _reason(err: Exception) -> str:
    """FFmpeg's message without the repeated file name."""
    return getattr(err, "strerror", None) or str(err)


# ----------------------------------------------------------------------------- writing

# Container format and codec per file suffix (the temporary name hides the suffix from FFmpeg).
_FORMATS = {
    ".mp4": ("mp4", "libx264"),
    ".mov": ("mov", "libx264"),
    ".mkv": ("matroska", "libx264"),
    ".avi": ("avi", "libx264"),
    ".webm": ("webm", "libvpx-vp9"),
}


class VideoWriter:
    """Write RGB frames to a video (H.264 in mp4/mov/mkv/avi, VP9 in webm, yuv420p).

    Use as a context manager; frames go to a temporary file beside `path`, renamed to `path`
    only when the `with` block ends without an exception (else the temporary file is deleted).
    `size` (H, W) is taken from the first frame when not given; odd sizes are padded by one
    pixel (edge copied) because 4:2:0 video needs even sizes. `crf` 0 is lossless H.264.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float | Fraction,
        size: tuple[int, int] | None = None,
        *,
        crf: int = 18,
    ) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in _FORMATS:
            raise ValueError(f"video name must end in {', '.join(_FORMATS)}: {self.path}")
        self.format, self.codec = _FORMATS[suffix]
        self.rate = _rate(fps)
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.crf = int(crf)
        self.frames = 0
        self._tmp: Path | None = None
        self._container: Any = None
        self._stream: Any = None

    def __enter__(self) -> VideoWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        os.close(fd)
        self._tmp = Path(tmp)
        options = {"movflags": "+faststart"} if self.format in ("mp4", "mov") else {}
        try:
            self._container = av.open(str(self._tmp), "w", format=self.format, options=options)
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append one HxWx3 uint8 RGB frame."""
        if self._container is None:
            raise RuntimeError("VideoWriter.write outside its `with` block")
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frames must be HxWx3 uint8, got {frame.shape} {frame.dtype}")
        if self.size is None:
            self.size = (frame.shape[0], frame.shape[1])
        if frame.shape[:2] != self.size:
            raise ValueError(f"frame is {frame.shape[:2]} but the video is {self.size}")
        if self._stream is None:
            self._stream = self._add_stream()
        h, w = self.size
        if h % 2 or w % 2:
            frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        try:
            self._container.mux(self._stream.encode(picture))
        except av.error.FFmpegError as err:
            raise OutputError(f"cannot write video {self.path}: {_reason(err)}") from err
        self.frames += 1

    def _add_stream(self) -> Any:
        assert self.size is not None
        stream = self._container.add_stream(self.codec, rate=self.rate)
        stream.height = self.size[0] + self.size[0] % 2
        stream.width = self.size[1] + self.size[1] % 2
        stream.pix_fmt = "yuv420p"
        if self.codec == "libx264":
            stream.options = {"crf": str(self.crf), "preset": "fast"}
        else:
            crf = str(max(self.crf, 4))
            stream.options = {"crf": crf, "b": "0", "deadline": "realtime", "cpu-used": "8"}
        return stream

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tmp is not None
        container, self._container = self._container, None
        try:
            if exc_type is not None:
                return  # the finally below discards the partial file
            if self.frames == 0:
                raise ValueError(f"no frames were written to {self.path}")
            try:
                container.mux(self._stream.encode())  # flush the encoder's delayed frames
                container.close()
            except av.error.FFmpegError as err:
                raise OutputError(f"cannot write video {self.path}: {_reason(err)}") from err
            publish_file(self._tmp, self.path)
        finally:
            with contextlib.suppress(av.error.FFmpegError, OSError):
                container.close()  # a no-op when already closed
            self._tmp.unlink(missing_ok=True)


def _rate(fps: float | Fraction) -> Fraction:
    """A frame rate as the fraction FFmpeg wants (29.97... -> 30000/1001)."""
    value = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
    if not value > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return value


def write_video(
    path: str | os.PathLike[str], frames: Iterable[np.ndarray], fps: float = FOLDER_FPS, **kw: Any
) -> int:
    """Write RGB frames to a video file in one call (tests, synthetic clips); returns the count."""
    with VideoWriter(path, fps, **kw) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.frames
