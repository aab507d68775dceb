"""Where a run may write, checked for every output together before any work is done.

An output that cannot be created (read-only folder, a file where a folder must be) used to
fail after the whole video was segmented, with a traceback; an output equal to or inside an
input (`--overlay` = the input video, `--out` inside the frames folder) could destroy the
input. These checks run first and fail in one line (OutputError, exit 2).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from gsfm.errors import OutputError


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(os.path.abspath(path)))


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_apart(
    outputs: Iterable[tuple[str, Path | None]],
    inputs: Iterable[tuple[str, Path | None]],
    replaced_folders: Iterable[Path | None] = (),
) -> None:
    """No output is, or is inside, an input; no input is inside a folder the run replaces
    as a whole (`replaced_folders`, e.g. segment's --out). Symlinks are followed."""
    ins = [(name, _resolved(p)) for name, p in inputs if p is not None]
    replaced = {_resolved(p) for p in replaced_folders if p is not None}
    for out_name, out_path in outputs:
        if out_path is None:
            continue
        out = _resolved(out_path)
        for in_name, inp in ins:
            if out == inp:
                raise OutputError(f"{out_name} {out_path} is the {in_name}; write somewhere else")
            if _within(out, inp):
                raise OutputError(
                    f"{out_name} {out_path} is inside the {in_name} {inp}; write somewhere else"
                )
            if out in replaced and _within(inp, out):
                raise OutputError(
                    f"the {in_name} {inp} is inside {out_name} {out_path}, which the results "
                    "replace; choose another output folder"
                )


def check_distinct(outputs: Iterable[tuple[str, Path | None]]) -> None:
    """No output is, or is inside, another output of the same run (`--overlay` = `--out`,
    an overlay in the folder of masks, masks under the overlay's name): each would be
    claimed, created or replaced under the other. Symlinks are followed."""
    given = [(name, path, _resolved(path)) for name, path in outputs if path is not None]
    for name, path, real in given:
        for other, other_path, other_real in given:
            if other == name:
                continue
            if real == other_real:
                raise OutputError(
                    f"{name} {path} and {other} {other_path} are the same path; give each its own"
                )
            if _within(real, other_real):
                raise OutputError(
                    f"{name} {path} is inside {other} {other_path}; write it beside {other} instead"
                )


def _first_existing(path: Path) -> Path:
    """The nearest ancestor of `path` (or `path` itself) that exists."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_creatable(path: Path, what: str) -> None:
    """`path` (file or folder) can be created or replaced: every missing folder above it can
    be made, and the folder it goes into is writable."""
    base = _first_existing(path.parent)
    if not base.is_dir():
        raise OutputError(f"{what} {path} is not writable: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {path} is not writable: no write permission in {base}")


def check_file_output(
    path: Path | None, what: str, overwrite: bool, suffixes: tuple[str, ...] = ()
) -> None:
    """A file output (overlay video, zip, CSV): a usable name, not a folder, replaced only
    with --overwrite, and creatable."""
    if path is None:
        return
    if suffixes and path.suffix.lower() not in suffixes:
        raise OutputError(f"{what} {path}: the name must end in {', '.join(suffixes)}")
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder")
    if path.exists() and not overwrite:
        raise OutputError(f"{what} {path} exists; pass --overwrite to replace it")
    check_creatable(path, what)
