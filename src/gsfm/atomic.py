"""Atomic file writes: write to a temporary name in the same folder, then rename.

A crash or Ctrl-C mid-write leaves either the old file or no file, never half a file;
`staged_output` does the same for a whole folder of results.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from gsfm.errors import OutputError

log = logging.getLogger(__name__)

# Entries of an output folder that belong to the run, not to the results (see gsfm.ownership).
KEEP_INSIDE = (".gsfm-lock",)


def publish_file(tmp: Path, target: Path) -> None:
    """Rename a finished temporary file over `target` with the usual new-file mode (mkstemp
    makes 0600, and some writers recreate the file, so the mode is set last)."""
    os.chmod(tmp, usual_mode(0o666))
    os.replace(tmp, target)


def usual_mode(bits: int) -> int:
    """`bits` (0o666 for files, 0o777 for folders) less the process umask: the mode an
    ordinary new file or folder gets here."""
    umask = os.umask(0)
    os.umask(umask)
    return bits & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it over `path`, else delete it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        publish_file(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------- folders


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux renameat2 RENAME_EXCHANGE): a reader sees
    one or the other, never neither. False where the system or file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # glibc < 2.28, musl
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes += [ctypes.c_uint]
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


@contextlib.contextmanager
def staged_output(
    out: str | os.PathLike[str],
    *,
    whole: bool = False,
    keep: Callable[[str], bool] = lambda name: False,
) -> Iterator[Path]:
    """Yield an empty hidden folder to write results into; publish it into `out` when the
    block ends cleanly. On an exception, Ctrl-C or a failed publish `out` is left exactly as
    it was. OSError -> OutputError.

    The staging folder goes beside `out` (same file system) when the parent is writable, else
    inside `out` (a writable output in a read-only folder). Publishing:
    - `out` new: one rename.
    - `whole`: the results replace `out` as a whole: the two folders are swapped in one step
      (renameat2; else old aside, new in), then the old one is deleted, so a reader sees the
      old set or the new set. Entries of the old folder whose name `keep` accepts (and the
      results do not replace) are carried over into the new one. Inside a read-only parent,
      entries move one by one and a failure moves them all back.
    - else: entries replace the entries of the same name (a folder replaces a folder whole),
      others are left alone; a failure moves everything back.
    """
    target = Path(os.path.abspath(out))
    parent = target.parent
    beside = not target.exists() or _writable_dir(parent)
    home = parent if beside else target
    prefix = f".{target.name}.partial-" if beside else ".partial-"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=home))
    except OSError as err:
        raise OutputError(f"cannot write into {home}: {err.strerror or err}") from None
    try:
        yield staging
        try:
            _publish(staging, target, whole, beside, keep)
        except OSError as err:
            raise OutputError(
                f"cannot move the results into {target} (left as it was): {err.strerror or err}"
            ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(
    staging: Path, target: Path, whole: bool, beside: bool, keep: Callable[[str], bool]
) -> None:
    if not target.exists():
        os.chmod(staging, usual_mode(0o777))  # mkdtemp made it private (0700)
        os.replace(staging, target)
        return
    new = sorted(p.name for p in staging.iterdir())
    if whole and beside:
        os.chmod(staging, stat.S_IMODE(os.stat(target).st_mode))
        carried = [p.name for p in target.iterdir() if keep(p.name) and p.name not in new]
        aside: Path | None = None
        try:
            with _undo_moves() as moves:
                for name in carried:
                    moves.move(target / name, staging / name)
                if exchange(staging, target):
                    shutil.rmtree(staging, ignore_errors=True)  # now the old set
                    return
                aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
                moves.move(target, aside / "old")
                os.replace(staging, target)
        finally:
            if aside is not None:
                shutil.rmtree(aside, ignore_errors=True)
        return
    if whole:
        old = [
            p.name
            for p in target.iterdir()
            if p.name not in KEEP_INSIDE
            and p != staging
            and not (keep(p.name) and p.name not in new)
        ]
    else:
        old = [name for name in new if os.path.lexists(target / name)]
    home, prefix = (target.parent, f".{target.name}.old-") if beside else (target, ".old-")
    aside = Path(tempfile.mkdtemp(prefix=prefix, dir=home))
    try:
        with _undo_moves() as moves:
            for name in old:
                moves.move(target / name, aside / name)
            for name in new:
                moves.move(staging / name, target / name)
    finally:
        shutil.rmtree(aside, ignore_errors=True)  # empty when the moves were undone


class _Moves:
    def __init__(self) -> None:
        self.done: list[tuple[Path, Path]] = []

    def move(self, src: Path, dst: Path) -> None:
        os.replace(src, dst)
        self.done.append((src, dst))


@contextlib.contextmanager
def _undo_moves() -> Iterator[_Moves]:
    """Renames that are all undone, last first, when the block fails."""
    moves = _Moves()
    try:
        yield moves
    except BaseException:
        for src, dst in reversed(moves.done):
            with contextlib.suppress(OSError):
                os.replace(dst, src)
        raise
