"""Options that several verbs share (`--size`), declared and checked in one place so that
`gsfm segment`, `gsfm infer` and `gsfm demo` agree on default, help and range."""

from __future__ import annotations

import argparse

from gsfm.errors import InputError

DEFAULT_SIZE = 480  # the paper's 480p; masks are resized back to the input size
MIN_SIZE = 16  # one stride-16 cell
# Beyond 4096 the memory read alone needs tens of GB (gsfm.inference.budget); larger values
# are typos (--size 100000 tried to allocate 216 GB).
MAX_SIZE = 4096


def add_size_option(p: argparse.ArgumentParser) -> None:
    """`--size N`: shorter side the network sees; 0 = the frames' native size."""
    p.add_argument(
        "--size",
        type=int,
        default=DEFAULT_SIZE,
        help="shorter side the network sees, masks are resized back; 0 = native "
        f"(default: {DEFAULT_SIZE})",
    )


def check_size(size: int) -> None:
    """A one-line InputError for a --size the engine would refuse."""
    if size != 0 and size < MIN_SIZE:
        raise InputError(f"--size must be 0 (native) or at least {MIN_SIZE}, got {size}")
    if size > MAX_SIZE:
        raise InputError(f"--size must be at most {MAX_SIZE} (or 0 = native), got {size}")
