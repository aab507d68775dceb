"""Atomic file writes: write to a temporary name in the same folder, then rename.

A crash or Ctrl-C mid-write leaves either the old file or no file, never half a file;
`staged_output` does the same for a whole folder of results.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gsfm.errors import OutputError


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


@contextlib.contextmanager
def staged_output(out: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty hidden folder beside `out` (same file system) to write results into.

    When the block ends cleanly its entries move into `out`: one rename when `out` is new,
    else entry by entry, replacing entries of the same name (a folder replaces a folder
    whole) and leaving the others alone. On an exception or Ctrl-C `out` is left exactly as
    it was. The staging folder is removed either way. OSError -> OutputError.
    """
    target = Path(out)
    parent = target.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=parent))
    except OSError as err:
        raise OutputError(f"cannot write into {parent}: {err.strerror or err}") from None
    try:
        yield staging
        try:
            os.chmod(staging, usual_mode(0o777))  # mkdtemp made it private (0700)
            if not target.exists():
                os.replace(staging, target)
                return
            for path in sorted(staging.iterdir()):
                dest = target / path.name
                if path.is_dir() and dest.is_dir() and not dest.is_symlink():
                    shutil.rmtree(dest)
                os.replace(path, dest)
        except OSError as err:
            raise OutputError(
                f"cannot move the results into {target}: {err.strerror or err}"
            ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
