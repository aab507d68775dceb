"""What comes in: uploads (size-limited, read by content), zips of frames, `--root` paths.

Nothing is trusted by its name. An upload is a zip when `zipfile` reads it as one, else it
must decode as a video; zip members are flattened to their file names (no paths, no links)
and counted as they are extracted, so a zip bomb stops at the limit. `--root` paths are
relative, without `..`, without symbolic links, and must resolve inside the root; so must
every frame of a folder opened there. Messages name what the user sent (the upload's name, the
path under the root), never the server's own temporary files.
"""

from __future__ import annotations

import lzma
import shutil
import stat
import zipfile
import zlib
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath

from gsfm.data.video import IMAGE_SUFFIXES, FrameSource, open_frames
from gsfm.errors import InputError
from gsfm.serve.disk import disk_full, is_disk_full

CHUNK = 1 << 20
MAX_PATH_CHARS = 4096  # PATH_MAX: a longer path cannot name a file
ZIP_EXPANSION = 4  # a zip of frames may hold this many times the upload limit


class TooLargeError(InputError):
    """An upload over the size limit (HTTP 413)."""


class RefusedError(InputError):
    """A path outside `--root` (HTTP 403)."""


async def receive(chunks: AsyncIterator[bytes], target: Path, limit: int) -> int:
    """Write an upload's bytes to `target`, stopping with TooLargeError past `limit` bytes."""
    total = 0
    with target.open("wb") as out:
        async for chunk in chunks:
            total += len(chunk)
            if total > limit:
                raise TooLargeError(f"the upload is over the {mib(limit)} limit (--max-upload-mb)")
            out.write(chunk)
    if total == 0:
        raise InputError("the upload is empty")
    return total


def mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


def open_input(path: Path, scratch: Path, limit: int) -> FrameSource:
    """A video file, a folder of frames or a zip of frames, checked by decoding its content.

    A zip is unpacked into `scratch/zip` first. Errors are one-line InputErrors.
    """
    if path.is_file() and zipfile.is_zipfile(path):
        folder = scratch / "zip"
        unpack_frames(path, folder, limit * ZIP_EXPANSION)
        return open_frames(folder)
    try:
        return open_frames(path)
    except InputError as err:
        raise InputError(
            f"{err} (expected a video: mp4, webm, mov, avi, mkv, or a zip of JPEG/PNG frames)"
        ) from None


def unpack_frames(archive: Path, folder: Path, limit: int) -> None:
    """Extract the JPEG/PNG members of a zip into one flat folder; others are skipped.

    A corrupt member (a broken deflate, bzip2 or LZMA stream, a wrong CRC) is a bad-input
    sentence naming it; a full disk is the disk-full sentence.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    seen: set[str] = set()
    member = ""
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                name = PurePosixPath(info.filename.replace("\\", "/")).name
                is_link = stat.S_ISLNK(info.external_attr >> 16)
                if (
                    info.is_dir()
                    or is_link
                    or name.startswith(".")
                    or "__MACOSX" in info.filename
                    or PurePosixPath(name).suffix.lower() not in IMAGE_SUFFIXES
                ):
                    continue
                if name in seen:
                    raise InputError(f"the zip holds two frames named {name}; keep one")
                seen.add(name)
                member = f" (member {info.filename})"
                with zf.open(info) as src, (folder / name).open("wb") as dst:
                    while chunk := src.read(CHUNK):
                        written += len(chunk)
                        if written > limit:
                            raise TooLargeError(f"the zip unpacks to over {mib(limit)}")
                        dst.write(chunk)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        EOFError,
        zlib.error,
        lzma.LZMAError,
    ) as err:
        raise InputError(f"cannot read the zip{member}: {err}") from None
    except RuntimeError as err:  # encrypted members
        raise InputError(f"cannot read the zip{member}: {err}") from None
    except OSError as err:  # bz2's "Invalid data stream", a read error; or a full disk
        if is_disk_full(err):
            raise disk_full() from None
        raise InputError(f"cannot read the zip{member}: {err.strerror or err}") from None
    if not seen:
        raise InputError("the zip holds no JPEG or PNG frames")


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def under_root(root: Path, relative: str) -> Path:
    """`relative` inside the (resolved) root, or RefusedError: absolute paths, `..`, symbolic
    links anywhere on the way and anything resolving outside the root are refused; a path that
    cannot name a file (a NUL byte, too long) is an InputError."""
    shown = repr(relative if len(relative) <= 80 else relative[:60] + "...")
    if "\0" in relative or len(relative) > MAX_PATH_CHARS:
        reason = "a NUL byte" if "\0" in relative else f"{len(relative)} characters"
        raise InputError(f"{shown} is not a path that can exist ({reason})")
    rel = PurePosixPath(relative.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts:
        raise RefusedError(f"{shown}: only paths inside --root, without '..', can be opened")
    path = root
    try:
        for part in rel.parts:
            path = path / part
            if path.is_symlink():
                raise RefusedError(f"{shown}: symbolic links are not followed")
        resolved = path.resolve()
        exists = resolved.exists()
    except (OSError, RuntimeError) as err:  # a name over NAME_MAX, a loop
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        raise InputError(f"{shown} cannot be opened: {reason}") from None
    if not resolved.is_relative_to(root):
        raise RefusedError(f"{shown} is outside --root")
    if not exists:
        raise InputError(f"{shown} not found under --root")
    return resolved


def check_frames_inside(root: Path, folder: Path, relative: str) -> None:
    """RefusedError when a frame of `folder` (a JPEG/PNG name) resolves outside the root: a
    symbolic link inside the root must not read a file outside it."""
    try:
        for p in folder.iterdir():
            if p.is_symlink() and p.suffix.lower() in IMAGE_SUFFIXES:
                try:
                    inside = p.resolve().is_relative_to(root)
                except (OSError, RuntimeError):
                    inside = False
                if not inside:
                    raise RefusedError(
                        f"{relative!r}: frame {p.name} is a symbolic link to outside --root"
                    )
    except OSError as err:
        raise InputError(f"cannot list {relative!r}: {err.strerror or err}") from None


def in_users_words(message: str, shown: dict[Path, str]) -> str:
    """`message` with the server's own paths (keys) replaced by what the user sent (values):
    an upload's name for its temporary file, a zip's name for the folder it was unpacked to."""
    for path, name in sorted(shown.items(), key=lambda item: -len(str(item[0]))):
        message = message.replace(str(path), name)
    return message


def list_folder(root: Path, relative: str) -> list[dict[str, object]]:
    """Entries of a folder under root, folders first; hidden names and links are left out."""
    folder = under_root(root, relative) if relative else root
    if not folder.is_dir():
        raise InputError(f"{relative!r} is not a folder")
    entries = []
    for p in sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower())):
        if p.name.startswith(".") or p.is_symlink():
            continue
        rel = p.relative_to(root).as_posix()
        entries.append({"name": p.name, "path": rel, "folder": p.is_dir()})
    return entries
