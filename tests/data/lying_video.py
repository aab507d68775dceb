"""Hostile video files for the readers' tests: an AVI whose headers lie about its frame count,
and a ceiling on this process's address space so that a reader that believes them fails fast
with MemoryError instead of filling the machine's memory."""

from __future__ import annotations

import contextlib
import resource
import struct
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

CLAIMED = 0x7FFFFFFF  # 2**31 - 1 frames


def frames(n: int = 5, h: int = 32, w: int = 48) -> list[np.ndarray]:
    """Grey gradients with a white square moving right: each frame differs."""
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for t in range(n):
        f = np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 30 * t)], axis=2)
        f[8:18, 4 + 4 * t : 14 + 4 * t] = 250
        out.append(f.astype(np.uint8))
    return out


def _chunks(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(fourcc, offset of the chunk's data, its size) of a RIFF chunk list, into LISTs."""
    i = start
    while i + 8 <= end:
        tag = data[i : i + 4]
        size = struct.unpack_from("<I", data, i + 4)[0]
        if tag in (b"RIFF", b"LIST"):
            yield from _chunks(data, i + 12, i + 8 + size)
        else:
            yield tag, i + 8, size
        i += 8 + size + (size & 1)


def write_lying_avi(path: Path, video: list[np.ndarray], claimed: int = CLAIMED) -> Path:
    """An MJPEG AVI of `video` whose main header (avih dwTotalFrames) and stream header
    (strh dwLength) both claim `claimed` frames."""
    h, w = video[0].shape[:2]
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuvj420p"
        for f in video:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        container.mux(stream.encode())
    data = bytearray(path.read_bytes())
    patched = set()
    for tag, offset, _ in _chunks(bytes(data), 0, len(data)):
        if tag == b"avih":  # MainAVIHeader: 4 DWORDs, then dwTotalFrames
            assert struct.unpack_from("<I", data, offset + 16)[0] == len(video)
            struct.pack_into("<I", data, offset + 16, claimed)
            patched.add(tag)
        elif tag == b"strh":  # AVIStreamHeader: fccType, fccHandler, ..., dwLength at 32
            assert struct.unpack_from("<I", data, offset + 32)[0] == len(video)
            struct.pack_into("<I", data, offset + 32, claimed)
            patched.add(tag)
    assert patched == {b"avih", b"strh"}
    path.write_bytes(bytes(data))
    with av.open(str(path)) as container:  # what FFmpeg now believes
        assert container.streams.video[0].frames == claimed
    return path


def _address_space() -> int:
    """This process's virtual memory size in bytes (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * resource.getpagesize()


@contextlib.contextmanager
def memory_ceiling(headroom_gib: float = 3.0) -> Iterator[None]:
    """Allow this process only `headroom_gib` more address space for the block, so that code
    allocating by a lying header raises MemoryError in seconds rather than swapping."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _address_space() + int(headroom_gib * (1 << 30))
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
