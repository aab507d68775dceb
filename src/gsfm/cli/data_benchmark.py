"""`gsfm data benchmark`: write a held-out procedural set (standard, hard or long) in the DAVIS
2017 layout."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from gsfm.arguments import Number
from gsfm.cli.data import _size, check_out_folder
from gsfm.errors import InputError, OutputError
from gsfm.synthetic import benchmark as B

log = logging.getLogger(__name__)


def add_subcommand(nested: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `gsfm data benchmark` on `gsfm data`'s subparsers."""
    p = nested.add_parser(
        "benchmark",
        help="write the held-out procedural benchmark (DAVIS 2017 layout)",
        description=(
            "Write the held-out procedural benchmark: videos of 1-3 photo-textured objects with "
            "occlusions, scale changes and look-alike distractors, every frame annotated, in the "
            "DAVIS 2017 layout (split 'val'), so that `gsfm infer --dataset davis2017 --root "
            "DIR` and `gsfm evaluate --dataset davis2017 --root DIR` work on it. Its seeds "
            f"({B.HELD_OUT_SEEDS.start:_}..{B.HELD_OUT_SEEDS.stop - 1:_}) are never used in "
            "training; the same arguments always write the same dataset. `--kind hard` writes "
            "the hard set instead: articulated figures, thin and holed shapes, bending objects "
            "that leave the frame and come back, 3x scale changes, a panning, zooming and "
            "rolling camera with parallax, motion blur, lighting and colour drift, look-alikes "
            "sharing the object's texture and untracked occluders (seeds "
            f"{B.HARD_SEEDS.start:_}..{B.HARD_SEEDS.stop - 1:_}). Report videos "
            f"{B.REPORTED_VIDEOS.start}-{B.REPORTED_VIDEOS.stop - 1} (the default "
            f"{B.DEFAULT_VIDEOS}); choose checkpoints and settings on videos "
            f"{B.VALIDATION_VIDEOS.start}-{B.VALIDATION_VIDEOS.stop - 1} (--videos "
            f"{B.VALIDATION_VIDEOS.stop}, the first {B.REPORTED_VIDEOS.stop} left out). "
            "`--kind long` writes long videos (lengths "
            f"{', '.join(str(n) for n in B.LONG_FRAMES)}, cycling) where objects leave the "
            "frame and come back from another side at another scale, hide behind a pillar for "
            "long stretches, change texture slowly, and the camera cuts to unrelated scenes "
            "with look-alikes; their masks are empty while an object is away (seeds "
            f"{B.LONG_SEEDS.start:_}..{B.LONG_SEEDS.stop - 1:_}; report videos "
            f"{B.LONG_VIDEOS.start}-{B.LONG_VIDEOS.stop - 1}, the default --videos "
            f"{B.LONG_VIDEOS.stop} for this kind; `gsfm bench --long` scores them per part)."
        ),
    )
    p.add_argument(
        "--kind",
        choices=B.KINDS,
        default="standard",
        help="which set: the standard held-out benchmark, the hard one or the long one "
        "(default: standard)",
    )
    p.add_argument("--out", type=Path, required=True, help="folder to write the dataset into")
    p.add_argument(
        "--videos",
        type=Number(int, minimum=1),  # at most: per --kind, checked in run
        default=None,
        help=f"number of videos (default: {B.DEFAULT_VIDEOS}; long: {B.LONG_VIDEOS.stop})",
    )
    p.add_argument(
        "--frames",
        type=Number(int, minimum=3),
        default=None,
        help=f"frames per video, at least 3 (default: {B.DEFAULT_FRAMES}; long: each video's "
        "planned length)",
    )
    height, width = B.DEFAULT_SIZE
    p.add_argument(
        "--size",
        type=_size,
        default=None,
        help=f"frame size HxW (default: {height}x{width}; long: {B.LONG_SIZE[0]}x{B.LONG_SIZE[1]})",
    )
    p.add_argument("--overwrite", action="store_true", help="write into a folder that is not empty")
    p.set_defaults(data_run=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Check the arguments and the folder, then write the dataset."""
    long = args.kind == "long"
    if args.videos is None:
        args.videos = B.LONG_VIDEOS.stop if long else B.DEFAULT_VIDEOS
    if args.frames is None and not long:
        args.frames = B.DEFAULT_FRAMES
    args.size = args.size or B.default_size(args.kind)
    limit = B.max_videos(args.kind)
    if not 1 <= args.videos <= limit:
        raise InputError(f"--videos must be in 1..{limit}, got {args.videos}")
    least = B.MIN_LONG_FRAMES if long else 3
    if args.frames is not None and args.frames < least:
        raise InputError(
            f"--frames must be at least {least} "
            + ("for long videos" if long else "(first and last frames are not scored)")
            + f", got {args.frames}"
        )
    if long and min(args.size) < 32:
        raise InputError(f"--size: long videos need at least 32x32, got {args.size}")
    out: Path = args.out
    check_out_folder(out, args.overwrite)

    def progress(done: int, total: int) -> None:
        log.info("video %d/%d written", done, total)

    try:
        B.write_benchmark(
            out,
            videos=args.videos,
            frames=args.frames,
            size=args.size,
            progress=progress,
            kind=args.kind,
        )
    except OSError as exc:
        raise OutputError(f"cannot write the benchmark under {out}: {exc}") from exc
    height, width = args.size
    what = {"hard": "hard set", "long": "long set"}.get(args.kind, "benchmark")
    frames = args.frames or "planned"
    print(
        f"wrote the held-out {what}: {args.videos} videos x {frames} frames of "
        f"{width}x{height} to {out} (DAVIS 2017 layout, split val)"
    )
    return 0
