"""`gsfm segment`: segment the objects of a video from their masks in one or more frames.

Everything that can be checked before the network runs is checked first (output folder,
input, masks, weights, memory), so a bad argument costs nothing and writes nothing. The run
claims --out (and --overlay) first: a second run on them is refused. Masks are written into a
hidden staging folder and published only when every frame is done, replacing the old set of
masks as a whole (`gsfm.atomic.staged_output`): an error or Ctrl-C half-way leaves the output
folder as it was.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from tqdm import tqdm

from gsfm.atomic import staged_output
from gsfm.background import WriteBehind
from gsfm.cli.options import (
    INTERACTIVE,
    add_backend_options,
    add_device_option,
    add_engine_options,
    add_presence_option,
    build_predictor,
    check_backend,
    engine_config,
    run_options,
)
from gsfm.data.masks import (
    DAVIS_PALETTE,
    LabelMask,
    read_mask,
    resize_labels,
    write_palette_png,
)
from gsfm.data.overlay import overlay
from gsfm.data.video import FrameSource, VideoWriter, open_frames
from gsfm.errors import InputError, OutputError
from gsfm.first_mask import check_box, labels_from_boxes
from gsfm.inference.track import track
from gsfm.outputs import check_apart, check_creatable, check_distinct, check_file_output
from gsfm.ownership import claimed, lock_names

if TYPE_CHECKING:
    from gsfm.inference.predictor import VideoPredictor

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".webm", ".mkv")  # what gsfm.data.video writes
FIRST_MASKS = "first_masks"  # where the masks made from --box go, inside --out


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `gsfm segment` on the dispatcher's subparsers."""
    p = sub.add_parser(
        "segment",
        help="segment objects through a video from their first masks",
        description=(
            "Segment the objects of INPUT (a video file or a folder of JPEG/PNG frames) given "
            "a box around each (--box) or their masks (--mask) in the first frame (or the "
            "frame where each appears). Writes one palette PNG per frame into --out, with the "
            "palette of the given mask."
        ),
    )
    p.add_argument("input", metavar="INPUT", type=Path, help="video file or folder of frames")
    p.add_argument(
        "--box",
        action="append",
        metavar="X0,Y0,X1,Y1",
        help="a box around one object (pixels of the frame as shown; x1, y1 exclusive): its "
        "first mask is made with GrabCut (gsfm.first_mask) and written to DIR/first_masks/; "
        "repeat for more objects (ids 1, 2, ... in order, after the objects of any --mask)",
    )
    p.add_argument(
        "--box-frame",
        action="append",
        metavar="K",
        help="frame of the boxes (one for all, or one per --box): 0-based index or frame name "
        "(default: 0)",
    )
    p.add_argument(
        "--mask",
        action="append",
        type=Path,
        metavar="MASK.png",
        help="mask PNG: palette with object ids, binary/grey (one object) or RGB (one object "
        "per colour); repeat with --mask-frame for objects that appear later (a later "
        "black-and-white mask is a new object; palette ids and RGB colours keep their object)",
    )
    p.add_argument(
        "--mask-frame",
        action="append",
        metavar="K",
        help="frame of each --mask: 0-based index or frame name (default: 0 for one mask)",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument("--overlay", type=Path, metavar="FILE.mp4", help="also write an overlay video")
    p.add_argument(
        "--weights", default="gsfm-tiny", help="weights file or bundled name (default: gsfm-tiny)"
    )
    add_device_option(p)
    add_engine_options(
        p,
        ("precision", "size", "max_memory_frames", "memory", "top_k", "mem_every"),
        **INTERACTIVE,
    )
    add_presence_option(p)
    add_backend_options(p)
    p.add_argument(
        "--resize-mask", action="store_true", help="resize masks to the frame size if they differ"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the masks (*.png) of a non-empty --out as a whole (other files stay) "
        "and an existing overlay",
    )
    p.set_defaults(func=run)
    return p


@dataclass
class GivenMask:
    """One --mask (or the boxes of one frame) resolved: its frame index and a label map of
    output ids."""

    frame: int
    labels: np.ndarray
    path: Path | None  # None: made from boxes only


def run(args: argparse.Namespace) -> int:
    """Check everything, segment every frame into a staging folder, then move it into --out."""
    check_arguments(args)
    check_paths(args)
    with contextlib.ExitStack() as owned:
        # One run per output: claimed before the "is it empty" check, so that two runs
        # started together cannot both pass it (a second one is refused in one line).
        owned.enter_context(claimed(args.out, what="--out"))
        if args.overlay is not None:
            owned.enter_context(claimed(args.overlay, what="--overlay"))
        check_output(args.out, args.overlay, args.overwrite)
        source = open_frames(args.input)  # InputError when missing or unreadable
        masks, palette = read_masks(args, source)
        masks, made = add_box_masks(args, source, masks, palette)
        options = run_options(args, len(source))
        check_run_memory(args, source, options["max_memory_frames"])
        predictor = make_predictor(args, options)
        # --out is replaced as a set of masks: a reader sees the old set or the new one;
        # files that are not masks (*.png) stay.
        with staged_output(args.out, whole=True, keep=kept_from_before) as st:
            write_first_masks(st / FIRST_MASKS, masks, made, palette, source.names)
            seconds = segment_into(st, source, masks, palette, predictor, args.overlay)
    frames, objects = len(source), len(predictor.object_ids)
    rate = frames / seconds if seconds > 0 else float("inf")
    print(
        f"segmented {frames} frames, {objects} object{'s' * (objects != 1)} in "
        f"{seconds:.1f} s ({rate:.2f} frames/s)"
    )
    if made:
        boxes = len(args.box)
        print(
            f"first masks made from {boxes} box{'es' * (boxes != 1)} written to "
            f"{args.out / FIRST_MASKS}/: check them; to fix one, edit a copy and pass it "
            "with --mask"
        )
    return 0


# ----------------------------------------------------------------------------- checks


def check_arguments(args: argparse.Namespace) -> None:
    """Engine settings in range, a --box or --mask, one --mask-frame per --mask (when more
    than one mask), boxes that are four numbers."""
    engine_config(args)  # the engine's range checks, before anything is read
    check_backend(args)
    args.mask = args.mask or []
    args.box = args.box or []
    if not args.mask and not args.box:
        raise InputError("give a --box around each object, or their --mask")
    if args.mask_frame is not None and not args.mask:
        raise InputError("--mask-frame without --mask; boxes take --box-frame")
    if args.box_frame is not None and len(args.box_frame) not in (1, len(args.box)):
        raise InputError(
            f"{len(args.box)} --box but {len(args.box_frame)} --box-frame; give one "
            "--box-frame for all boxes, or one per --box"
        )
    args.boxes = [parse_box(text) for text in args.box]
    if args.mask_frame is not None and len(args.mask_frame) != len(args.mask):
        raise InputError(
            f"{len(args.mask)} --mask but {len(args.mask_frame)} --mask-frame; give one "
            "--mask-frame per --mask"
        )
    if args.mask_frame is None and len(args.mask) > 1:
        raise InputError("several --mask need a --mask-frame each (the frame they belong to)")


def is_mask_name(name: str) -> bool:
    return name.lower().endswith(".png")


def kept_from_before(name: str) -> bool:
    """What a new run keeps of an old --out: files that are not its masks (first_masks/ of
    an older run with boxes goes: it belongs to that run)."""
    return not is_mask_name(name) and name != FIRST_MASKS


def parse_box(text: str) -> tuple[int, int, int, int]:
    """'X0,Y0,X1,Y1' -> four ints (checked against the frame later, by first_mask.check_box)."""
    parts = text.replace(" ", "").split(",")
    try:
        if len(parts) != 4:
            raise ValueError
        x0, y0, x1, y1 = (int(v) for v in parts)
    except ValueError:
        raise InputError(f"--box {text!r} must be four integers X0,Y0,X1,Y1") from None
    return x0, y0, x1, y1


def check_paths(args: argparse.Namespace) -> None:
    """Every output apart from every input, and creatable, before anything is read."""
    inputs = [("input folder" if args.input.is_dir() else "input video", args.input)]
    inputs += [("--mask", path) for path in args.mask]
    if Path(str(args.weights)).is_file():
        inputs.append(("--weights", Path(str(args.weights))))
    outputs = [("--out", args.out), ("--overlay", args.overlay)]
    check_distinct(outputs)
    check_apart(outputs, inputs, replaced_folders=[args.out])
    if args.out.exists() and not args.out.is_dir():
        raise OutputError(f"--out {args.out} exists and is not a folder")
    if not args.out.exists():
        check_creatable(args.out, "--out")
    check_file_output(args.overlay, "--overlay", args.overwrite, VIDEO_SUFFIXES)


def check_run_memory(args: argparse.Namespace, source: FrameSource, cap: int | None) -> None:
    """Refuse a --size whose memory read alone would not fit (see gsfm.inference.budget)."""
    from gsfm.inference.budget import check_memory
    from gsfm.inference.device import resolve_device

    device = str(resolve_device(args.device))
    size = engine_config(args).size
    check_memory(source.size, size, len(source), args.mem_every, cap, device)


def check_output(out: Path, overlay: Path | None, overwrite: bool) -> None:
    """Refuse to clobber anything, before any work is done."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(p.name not in lock_names() for p in out.iterdir()) and not overwrite:
        raise OutputError(
            f"output folder {out} exists and is not empty; pass --overwrite to replace its "
            "masks, or choose another --out"
        )
    check_file_output(overlay, "--overlay", overwrite, VIDEO_SUFFIXES)


# ----------------------------------------------------------------------------- masks


def frame_index(text: str, names: list[str], option: str = "--mask-frame") -> int:
    """A --mask-frame value: a 0-based index, or else a frame name (with or without suffix)."""
    try:
        index = int(text)
    except ValueError:
        stem = Path(text).stem
        if stem in names:
            return names.index(stem)
        raise InputError(f"{option} {text!r} is neither an index nor a frame name") from None
    if not 0 <= index < len(names):
        raise InputError(f"{option} {index} is outside the input's {len(names)} frames")
    return index


def read_masks(args: argparse.Namespace, source: FrameSource) -> tuple[list[GivenMask], np.ndarray]:
    """Read, size-check (or resize) every --mask and give its objects their output ids."""
    height, width = source.size
    if not args.mask:
        return [], DAVIS_PALETTE.copy()
    frames = [frame_index(str(k), list(source.names)) for k in (args.mask_frame or ["0"])]
    if len(set(frames)) != len(frames):
        raise InputError("two --mask for the same frame; merge them into one mask")
    palette: np.ndarray | None = None
    masks: list[GivenMask] = []
    for frame, path in sorted(zip(frames, args.mask)):
        mask = read_mask(path)  # InputError: missing, unreadable, no object, antialiased
        labels = mask.labels
        if labels.shape != (height, width):
            if not args.resize_mask:
                raise InputError(
                    f"mask {path} is {labels.shape[1]}x{labels.shape[0]} but the frames are "
                    f"{width}x{height}; pass --resize-mask to resize it (nearest neighbour)"
                )
            labels = resize_labels(labels, (height, width))
            if not labels.any():
                raise InputError(f"mask {path} has no object left after resizing")
        if palette is None:
            palette = mask.palette.copy()
        else:
            labels = later_mask_ids(
                labels, mask.palette, is_binary(path, mask), palette, given_ids(masks)
            )
        masks.append(GivenMask(frame, labels, path))
    assert palette is not None
    return masks, palette


def add_box_masks(
    args: argparse.Namespace, source: FrameSource, masks: list[GivenMask], palette: np.ndarray
) -> tuple[list[GivenMask], list[int]]:
    """The masks with the boxes' objects added (new ids after the masks' objects, in order);
    the frames that got boxes. `palette` gets a distinct colour for each new id."""
    if not args.boxes:
        return masks, []
    names = list(source.names)
    given = args.box_frame or ["0"]
    frames = [frame_index(str(k), names, "--box-frame") for k in given]
    frames = frames * len(args.boxes) if len(frames) == 1 else frames
    for text, box in zip(args.box, args.boxes):
        check_box(box, source.size, f"--box {text}")  # before any frame is decoded
    taken = given_ids(masks)
    free = [i for i in range(1, 256) if i not in taken]
    if len(args.boxes) > len(free):
        raise InputError(f"{len(args.boxes)} boxes and {len(taken)} masked objects: over 255")
    used = [tuple(palette[i]) for i in taken]
    per_frame: dict[int, list[tuple[int, tuple[int, int, int, int]]]] = {}
    for frame, box, obj in zip(frames, args.boxes, free):
        per_frame.setdefault(frame, []).append((obj, box))
        if tuple(palette[obj]) in used or not palette[obj].any():
            palette[obj] = DAVIS_PALETTE[obj]
        used.append(tuple(palette[obj]))
    by_frame = {m.frame: m for m in masks}
    for index, (_, image) in enumerate(source):
        if index in per_frame:
            old = by_frame.get(index)
            labels = labels_from_boxes(image, per_frame[index], None if old is None else old.labels)
            by_frame[index] = GivenMask(index, labels, None if old is None else old.path)
        if index >= max(per_frame):
            break
    return sorted(by_frame.values(), key=lambda m: m.frame), sorted(per_frame)


def given_ids(masks: list[GivenMask]) -> set[int]:
    """The object ids of the given masks."""
    return {int(i) for m in masks for i in np.unique(m.labels) if i}


def write_first_masks(
    folder: Path, masks: list[GivenMask], made: list[int], palette: np.ndarray, names: list[str]
) -> None:
    """The first masks of the frames that had boxes, as `gsfm segment --mask` reads them."""
    for mask in masks:
        if mask.frame in made:
            try:
                write_palette_png(folder / f"{names[mask.frame]}.png", mask.labels, palette)
            except OSError as err:
                raise OutputError(f"cannot write masks: {err.strerror or err}") from None


def is_binary(path: Path, mask: LabelMask) -> bool:
    """A black-and-white/grey one-object mask (no ids or colours of its own)."""
    with Image.open(path) as img:
        mode = img.mode
    return (
        mode not in ("P", "PA")
        and mask.object_ids == [1]
        and np.array_equal(mask.palette, DAVIS_PALETTE)
    )


def later_mask_ids(
    labels: np.ndarray, colours: np.ndarray, binary: bool, palette: np.ndarray, tracked: set[int]
) -> np.ndarray:
    """Output ids for a mask after the first; `palette` (the output's) is updated in place.

    Palette masks keep their ids (same id and colour = same object); RGB masks number their
    colours per file, so a known colour maps to its object and a new colour gets a new id; a
    black-and-white mask is a new object with the next free id.
    """
    out = labels.copy()
    taken = set(tracked)
    for i in (int(v) for v in np.unique(labels) if v):
        colour = colours[i]
        if binary:
            target = min(set(range(1, 256)) - taken)
        elif np.array_equal(palette[i], colour):
            target = i
        else:
            known = sorted(j for j in tracked if np.array_equal(palette[j], colour))
            target = (
                known[0] if known else (i if i not in taken else min(set(range(1, 256)) - taken))
            )
            palette[target] = colour
        taken.add(target)
        out[labels == i] = target
    return out


# ----------------------------------------------------------------------------- running


def make_predictor(args: argparse.Namespace, options: dict[str, object]) -> VideoPredictor:
    """The predictor of the run: the engine flags with its memory settings (`run_options`)."""
    config = engine_config(args, **options)
    return build_predictor(args, **asdict(config))


def segment_into(
    staging: Path,
    source: FrameSource,
    masks: list[GivenMask],
    palette: np.ndarray,
    predictor: VideoPredictor,
    overlay_path: Path | None,
) -> float:
    """Segment every frame into `staging` (PNGs named after the frames); returns seconds.

    The overlay video is written by `VideoWriter` under a temporary name and renamed only
    when the `with` block ends cleanly. PNGs and overlay frames are written on a background
    thread (`WriteBehind`) while the network runs on the next frames.
    """
    given = {m.frame: m.labels for m in masks}
    names = list(source.names)
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        writer = None
        if overlay_path is not None:
            writer = stack.enter_context(VideoWriter(overlay_path, fps=source.fps))
        bar = stack.enter_context(
            tqdm(total=len(source), unit="frame", desc="segment", file=sys.stderr, leave=False)
        )
        behind = stack.enter_context(WriteBehind())

        def write(index: int, labels: np.ndarray, frame: np.ndarray) -> None:
            try:
                write_palette_png(staging / f"{names[index]}.png", labels, palette)
            except OSError as err:
                raise OutputError(f"cannot write masks: {err.strerror or err}") from None
            if writer is not None:
                writer.write(overlay(frame, labels, palette))

        for out in track(predictor, (frame for _, frame in source), given):
            behind.submit(write, out.index, out.labels, out.frame)
            bar.update(1)
    return time.perf_counter() - start
