"""Disk room for the sessions' decoded frames.

A small upload can decode to hundreds of times its size (every frame a lossless PNG), so
before decoding, a session's frames are estimated (frames x height x width x 3 bytes, an upper
bound for PNG in practice) and refused in one sentence when over the per-session budget
(`--max-session-gb`) or when they would not fit in the free space left by the other decodes
still running. A disk that fills anyway (another program) is one sentence too, never a 500.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from gsfm.errors import InputError

MARGIN_BYTES = 256 << 20  # masks, the export zip and its overlay video, the file system's own
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(InputError):
    """Not enough disk space for a session (HTTP 413)."""


def is_disk_full(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in DISK_FULL_ERRNOS


def disk_full() -> DiskFullError:
    """The sentence for a write that found the disk full."""
    return DiskFullError(
        "the server's disk is full: close other sessions or free some space, then try again"
    )


def gb(n: float) -> str:
    return f"{n / (1 << 30):.2f} GiB" if n < (10 << 30) else f"{n / (1 << 30):.0f} GiB"


def decoded_bytes(frames: int, size: tuple[int, int]) -> int:
    """What `frames` frames of `size` (H, W) take once decoded, at most (raw RGB)."""
    h, w = size
    return frames * h * w * 3


def check_room(folder: Path, need: int, limit: int, reserved: int, what: str) -> None:
    """DiskFullError unless `need` bytes are within `limit` and fit, with a margin, in the free
    space of `folder`'s disk less `reserved` (promised to decodes still running)."""
    if need > limit:
        raise DiskFullError(
            f"{what} decodes to about {gb(need)} of frames, over the {gb(limit)} a session may "
            "use (--max-session-gb); open a shorter or smaller video"
        )
    free = shutil.disk_usage(folder).free - reserved
    if need + MARGIN_BYTES > free:
        raise DiskFullError(
            f"{what} decodes to about {gb(need)} of frames but the server has "
            f"{gb(max(free, 0))} of disk space free; close other sessions or free some space"
        )
