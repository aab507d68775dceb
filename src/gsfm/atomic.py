"""Atomic file writes: write to a temporary name in the same folder, then rename.

A crash or Ctrl-C mid-write leaves either the old file or no file, never half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def publish_file(tmp: Path, target: Path) -> None:
    """Rename a finished temporary file over `target` with the usual new-file mode (mkstemp
    makes 0600, and some writers recreate the file, so the mode is set last)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, target)


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
