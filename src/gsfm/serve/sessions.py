"""A session = one opened video: its frames decoded once into a cache folder, the masks the
user gave (annotations) and the masks shown (results), each one PNG per frame on disk.

Nothing but the current request's frame is held in memory, so long videos cost disk, not RAM.
Results hold what the page shows for every frame: propagated masks, overwritten by an
annotation when the user paints or imports one. Annotations are the masks the engine is given.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from gsfm import ownership
from gsfm.data.masks import DAVIS_PALETTE, write_palette_png
from gsfm.data.video import FrameSource, read_frame
from gsfm.errors import InputError, OutputError
from gsfm.serve.disk import check_room
from gsfm.serve.jobs import Job

log = logging.getLogger(__name__)

FRAMES, RESULTS, ANNOTATIONS = "frames", "results", "annotations"
BASE_PREFIX = "gsfm-serve-"  # a server's folder of sessions, in the temp (or cache) folder


class NotFoundError(LookupError):
    """A session, frame or object that does not exist (HTTP 404)."""


class BusyError(RuntimeError):
    """The session's worker is running a propagation (HTTP 409)."""


@dataclass
class Session:
    """One opened video and its masks; files under `folder`."""

    id: str
    folder: Path
    title: str
    names: list[str]
    size: tuple[int, int]  # (H, W)
    fps: float
    palette: np.ndarray = field(default_factory=lambda: DAVIS_PALETTE.copy())
    object_names: dict[int, str] = field(default_factory=dict)
    job: Job | None = None
    last_seen: float = field(default_factory=time.monotonic)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # ------------------------------------------------------------------ files

    def _path(self, kind: str, index: int) -> Path:
        self.check_index(index)
        return self.folder / kind / f"{index:06d}.png"

    def check_index(self, index: int) -> None:
        if not 0 <= index < len(self.names):
            raise NotFoundError(f"frame {index} is outside the video's {len(self.names)} frames")

    def frame_path(self, index: int) -> Path:
        path = self._path(FRAMES, index)
        if not path.exists():
            raise NotFoundError(f"frame {index} is not decoded yet")
        return path

    def read_frame(self, index: int) -> np.ndarray:
        """HxWx3 uint8 RGB of a cached frame (written losslessly, so exactly the decoded one)."""
        return read_frame(self.frame_path(index))

    def _read_labels(self, kind: str, index: int) -> np.ndarray | None:
        path = self._path(kind, index)
        if not path.exists():
            return None
        with Image.open(path) as img:
            return np.array(img, dtype=np.uint8)

    def result(self, index: int) -> np.ndarray | None:
        return self._read_labels(RESULTS, index)

    def annotation(self, index: int) -> np.ndarray | None:
        return self._read_labels(ANNOTATIONS, index)

    def annotated(self) -> list[int]:
        return sorted(int(p.stem) for p in (self.folder / ANNOTATIONS).glob("*.png"))

    def segmented(self) -> list[int]:
        return sorted(int(p.stem) for p in (self.folder / RESULTS).glob("*.png"))

    def write_result(self, index: int, labels: np.ndarray) -> None:
        write_palette_png(self._path(RESULTS, index), labels, self.palette)

    # ------------------------------------------------------------------ edits

    def check_labels(self, labels: np.ndarray) -> np.ndarray:
        if labels.shape != self.size:
            h, w = self.size
            raise InputError(
                f"the mask is {labels.shape[1]}x{labels.shape[0]} but the frames are {w}x{h}"
            )
        return labels.astype(np.uint8, copy=False)

    def set_annotation(self, index: int, labels: np.ndarray) -> None:
        """The user's mask at `index`: kept for propagation and shown at once; an empty mask
        removes the frame's annotation (and what it showed). Under the session lock, so that
        no propagation starts between the busy check and the writes."""
        labels = self.check_labels(labels)
        with self.lock:
            self.check_idle()
            if not labels.any():
                self._path(ANNOTATIONS, index).unlink(missing_ok=True)
                self._path(RESULTS, index).unlink(missing_ok=True)
                return
            for obj in np.unique(labels):
                if obj and int(obj) not in self.object_names:
                    self.object_names[int(obj)] = f"object {int(obj)}"
            write_palette_png(self._path(ANNOTATIONS, index), labels, self.palette)
            write_palette_png(self._path(RESULTS, index), labels, self.palette)

    def add_object(self, name: str | None) -> int:
        with self.lock:
            free = [i for i in range(1, 256) if i not in self.object_names]
            if not free:
                raise InputError("255 objects is the most a palette PNG can hold")
            self.object_names[free[0]] = name or f"object {free[0]}"
            return free[0]

    def rename_object(self, obj: int, name: str) -> None:
        if obj not in self.object_names:
            raise NotFoundError(f"no object {obj}")
        self.object_names[obj] = name.strip()[:80] or f"object {obj}"

    def delete_object(self, obj: int) -> None:
        """Forget an object: its pixels become background in every annotation and result."""
        if obj not in self.object_names:
            raise NotFoundError(f"no object {obj}")
        with self.lock:
            self.check_idle()
            del self.object_names[obj]
            self._erase(obj)

    def _erase(self, obj: int) -> None:
        for kind in (ANNOTATIONS, RESULTS):
            for path in sorted((self.folder / kind).glob("*.png")):
                with Image.open(path) as img:
                    labels = np.array(img, dtype=np.uint8)
                if (labels == obj).any():
                    labels[labels == obj] = 0
                    if labels.any() or kind == RESULTS:
                        write_palette_png(path, labels, self.palette)
                    else:
                        path.unlink()

    def check_idle(self) -> None:
        """BusyError while the worker decodes the frames or propagates; InputError, with the
        decode's message, when the frames could not be decoded (nothing can be done then)."""
        job = self.job
        if job is None:
            return
        if job.kind == "decode" and job.state in ("failed", "cancelled"):
            reason = job.error or "it was stopped"
            raise InputError(
                f"{self.title} could not be decoded ({reason}); open it again or another video"
            )
        if not job.running:
            return
        if job.kind == "decode":
            raise BusyError("the frames are still being decoded; wait for them first")
        raise BusyError("a propagation is running; wait for it or cancel it first")

    # ------------------------------------------------------------------ summary

    def objects(self) -> list[dict[str, object]]:
        return [
            {"id": i, "name": n, "colour": [int(c) for c in self.palette[i]]}
            for i, n in sorted(self.object_names.items())
        ]

    def info(self) -> dict[str, object]:
        h, w = self.size
        return {
            "id": self.id,
            "title": self.title,
            "frames": len(self.names),
            "width": w,
            "height": h,
            "fps": self.fps,
            "names": self.names,
            "objects": self.objects(),
            "annotated": self.annotated(),
            "segmented": self.segmented(),
            "job": None if self.job is None else self.job.snapshot(),
        }


def decode_into(source: FrameSource, folder: Path) -> Iterator[int]:
    """Decode every frame once into `folder/frames` as lossless PNGs; yields frame counts.

    A frame that fails to decode raises InputError (the decode job fails with its message).
    """
    frames = folder / FRAMES
    frames.mkdir(parents=True, exist_ok=True)
    count = 0
    for count, (_, rgb) in enumerate(source, start=1):
        Image.fromarray(rgb).save(frames / f"{count - 1:06d}.png", compress_level=1)
        yield count
    if count == 0:
        raise InputError(f"{source.path.name} has no frames")


class SessionStore:
    """Every live session, in one temporary folder removed on exit; idle ones are reaped.

    The folder is claimed like any output (`gsfm.ownership`), so the folders of servers that
    were killed (SIGKILL, power-off) are told apart from live servers' and removed when the
    next server starts (`create`). `reserved` holds the disk space promised to the decodes
    still running (session id -> bytes), so that two uploads at once cannot both fit.
    """

    def __init__(
        self, base: Path, idle_seconds: float, held: ownership.Claim | None = None
    ) -> None:
        self.base = base
        self.idle_seconds = idle_seconds
        self.sessions: dict[str, Session] = {}
        self.reserved: dict[str, int] = {}
        self.lock = threading.Lock()
        self._claim = held

    @classmethod
    def create(cls, parent: Path | None, idle_seconds: float) -> SessionStore:
        """A new, claimed folder of sessions under `parent` (default: the system temp folder),
        once the folders that killed servers left there are removed."""
        parent = Path(parent if parent is not None else tempfile.gettempdir())
        remove_dead_servers(parent)
        base = parent / f"{BASE_PREFIX}{secrets.token_hex(6)}"
        held = ownership.claim(base, what="session folder")  # before the folder exists
        try:
            base.mkdir(mode=0o700)
        except BaseException:
            held.release()
            raise
        return cls(base, idle_seconds, held)

    def new_folder(self) -> tuple[str, Path]:
        sid = secrets.token_hex(8)
        folder = self.base / sid
        for kind in (FRAMES, RESULTS, ANNOTATIONS):
            (folder / kind).mkdir(parents=True)
        return sid, folder

    def reserve(self, sid: str, need: int, limit: int, what: str) -> None:
        """Promise `need` bytes of disk to session `sid`'s decode, or DiskFullError (over
        `limit`, or not free once the other running decodes' promises are kept)."""
        with self.lock:
            check_room(self.base, need, limit, sum(self.reserved.values()), what)
            self.reserved[sid] = need

    def unreserve(self, sid: str) -> None:
        with self.lock:
            self.reserved.pop(sid, None)

    def add(self, session: Session) -> None:
        with self.lock:
            self.sessions[session.id] = session
        log.info("session %s: %s, %d frames", session.id, session.title, len(session.names))

    def get(self, sid: str) -> Session:
        with self.lock:
            session = self.sessions.get(sid)
        if session is None:
            raise NotFoundError("no such session (closed, or removed after being idle)")
        session.last_seen = time.monotonic()
        return session

    def remove(self, sid: str) -> None:
        with self.lock:
            session = self.sessions.pop(sid, None)
        if session is None:
            return
        if session.job is not None:
            session.job.cancel()
            session.job.wait(30)
        shutil.rmtree(session.folder, ignore_errors=True)
        log.info("session %s closed", sid)

    def reap(self, now: float | None = None) -> list[str]:
        """Remove the sessions idle for longer than the timeout (not while propagating)."""
        now = time.monotonic() if now is None else now
        with self.lock:
            idle = [
                s.id
                for s in self.sessions.values()
                if now - s.last_seen > self.idle_seconds and not (s.job and s.job.running)
            ]
        for sid in idle:
            log.info("session %s idle for over %.0f s: removed", sid, self.idle_seconds)
            self.remove(sid)
        return idle

    def close(self) -> None:
        """Remove every session and the base folder (on server exit), then its claim."""
        for sid in list(self.sessions):
            self.remove(sid)
        shutil.rmtree(self.base, ignore_errors=True)
        if self._claim is not None:
            self._claim.release()


def remove_dead_servers(parent: Path) -> list[Path]:
    """Remove the session folders in `parent` whose server is gone (its claim is free), saying
    so; live servers' folders (claimed) and folders without a claim are left alone."""
    removed = []
    pattern = f".{BASE_PREFIX}*{ownership.LOCK_SUFFIX}"
    for lock in sorted(parent.glob(pattern)):
        target = parent / lock.name[1 : -len(ownership.LOCK_SUFFIX)]
        try:
            held = ownership.claim(target, what="session folder")
        except OutputError:
            continue  # a live server's (or another user's)
        with held:
            if target.exists():
                shutil.rmtree(target, ignore_errors=True)
                removed.append(target)
                by = held.previous.describe() if held.previous else "a server that was killed"
                log.warning("removed %s, the session folder of %s", target, by)
    return removed
