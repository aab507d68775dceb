"""`gsfm demo`: segment the bundled sample clip with the bundled model and score it.

The sample clip (`gsfm/assets/sample/`: clip.mp4, first_mask.png, masks/ with the ground truth
of every frame) is a held-out procedural scene that no training run has seen (seed 10_000_000,
see `gsfm.synthetic.benchmark`). The demo writes what `gsfm segment` would (palette PNGs, an overlay
video) plus a contact sheet, and scores the masks the DAVIS way: per object, every frame except
the first (given) and the last, J&F = (mean J + mean F) / 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from tqdm import tqdm

from gsfm.atomic import staged_output
from gsfm.cli.options import INTERACTIVE, add_device_option, add_engine_options, engine_config
from gsfm.data.masks import read_labels, read_mask, write_palette_png
from gsfm.data.overlay import contact_sheet, overlay
from gsfm.data.sample import MASKS_DIR, find_sample, sample_dir
from gsfm.data.video import FrameSource, VideoWriter, open_frames
from gsfm.errors import InputError, OutputError, WeightsError
from gsfm.evaluation.clip import score
from gsfm.inference.track import track
from gsfm.ownership import claimed

if TYPE_CHECKING:
    from gsfm.inference.predictor import VideoPredictor

log = logging.getLogger(__name__)

DEFAULT_OUT = Path("outputs/demo")
DEFAULT_WEIGHTS = "gsfm-tiny"
SHEET_FRAMES = 6  # frames shown on the contact sheet, evenly spaced, first and last included
SHEET_COLUMNS = 3
OVERLAY_NAME = "overlay.mp4"
SHEET_NAME = "contact_sheet.png"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `gsfm demo` on the dispatcher's subparsers."""
    p = sub.add_parser(
        "demo",
        help="segment the bundled sample clip and print its J&F",
        description=(
            "Segment the bundled sample clip (48 frames, 3 objects, given in the first frame) "
            "with the bundled model; write the masks, an overlay video and a contact sheet, and "
            "print J&F against the clip's ground truth (DAVIS protocol) and the time taken."
        ),
    )
    p.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"output folder; its earlier demo outputs are replaced (default: {DEFAULT_OUT})",
    )
    p.add_argument(
        "--weights",
        default=DEFAULT_WEIGHTS,
        help=f"weights file, bundled name or random:<variant> (default: {DEFAULT_WEIGHTS})",
    )
    add_device_option(p)
    add_engine_options(p, ("size", "precision"), **INTERACTIVE)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Check, load, segment, score, print."""
    start = time.perf_counter()
    config = engine_config(args)
    size = config.size
    sample = find_sample(sample_dir())
    check_output(args.out)
    predictor = load_predictor(args.weights, args.device, size, config.precision)

    source = open_frames(sample.video)
    first = read_mask(sample.first_mask)
    if len(source) != len(sample.masks):
        raise InputError(
            f"the sample clip has {len(source)} frames but {len(sample.masks)} ground-truth "
            "masks; reinstall gsfm or run scripts/make_sample_clip.py"
        )
    if first.labels.shape != source.size:
        raise InputError(f"the sample's first mask does not match its {source.size} frames")

    with claimed(args.out, what="--out"), staged_output(args.out) as staging:
        predictions, sheet_images, seconds = segment(
            source, first.labels, first.palette, predictor, staging
        )
        gt = np.stack(
            [
                read_labels(p, indexed_only=True, what="the sample's ground truth")
                for p in sample.masks
            ]
        )
        scores = score(gt, predictions, first.object_ids)
        write_sheet(staging, sheet_images)
    paths = args.out / MASKS_DIR, args.out / OVERLAY_NAME, args.out / SHEET_NAME

    total = time.perf_counter() - start
    frames, (height, width) = len(source), source.size
    weights = predictor.info.source if predictor.info is not None else args.weights
    print(
        f"sample clip: {frames} frames of {width}x{height}, {len(first.object_ids)} objects; "
        f"weights {weights} on {predictor.device}, network input "
        f"{'native size' if size is None else f'shorter side {size}'}"
    )
    per_object = ", ".join(f"{k}: {(j + f) / 2:.3f}" for k, (j, f) in scores.per_object.items())
    print(
        f"J&F {scores.jf:.3f} (J {scores.j:.3f}, F {scores.f:.3f}; per object {per_object}; "
        "first and last frames not scored)"
    )
    if str(args.weights).startswith("random:"):
        print("note: an untrained network; these scores are a floor, not the model's")
    print(f"masks:   {paths[0]} ({frames} palette PNGs)")
    print(f"overlay: {paths[1]}")
    print(f"sheet:   {paths[2]}")
    print(
        f"time:    {total:.1f} s in all, segmentation {seconds:.1f} s "
        f"({frames / max(seconds, 1e-9):.1f} frames/s)"
    )
    return 0


# ----------------------------------------------------------------------------- checks


def check_output(out: Path) -> None:
    """--out must be a folder (or not exist yet); its earlier demo outputs get replaced."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} exists and is not a folder")
    for name in (OVERLAY_NAME, SHEET_NAME):
        if (out / name).is_dir():
            raise OutputError(f"{out / name} is a folder; remove it or choose another --out")
    if (out / MASKS_DIR).exists() and not (out / MASKS_DIR).is_dir():
        raise OutputError(f"{out / MASKS_DIR} is a file; remove it or choose another --out")


def load_predictor(
    weights: str, device: str, size: int | None = None, precision: str = "fp32"
) -> VideoPredictor:
    """The predictor at shorter side `size` (None: the clip's native size); a missing bundled
    model is a WeightsError that says how to run the demo anyway."""
    import torch

    from gsfm.inference.predictor import VideoPredictor
    from gsfm.model.variants import VARIANTS
    from gsfm.model.weights import bundled_names

    if weights in VARIANTS and weights not in bundled_names():
        raise WeightsError(
            f"the bundled {weights} weights are not installed (gsfm/assets/weights/"
            f"{weights}.safetensors); pass --weights FILE, or --weights random:{weights} to run "
            "the demo with an untrained network"
        )
    torch.manual_seed(0)  # random:<variant> networks come from the global seed: same demo
    return VideoPredictor.from_weights(weights, device=device, size=size, precision=precision)


# ----------------------------------------------------------------------------- work


def segment(
    source: FrameSource,
    first: np.ndarray,
    palette: np.ndarray,
    predictor: VideoPredictor,
    staging: Path,
) -> tuple[np.ndarray, list[tuple[int, np.ndarray]], float]:
    """Segment every frame, writing masks and the overlay video into `staging`.

    Returns the label maps [T, H, W], the (frame index, overlay) pairs picked for the contact
    sheet and the seconds spent (reading, network and writing).
    """
    total = len(source)
    shown = set(np.linspace(0, total - 1, min(SHEET_FRAMES, total)).round().astype(int).tolist())
    masks_dir = staging / MASKS_DIR
    masks_dir.mkdir()
    predictions = np.zeros((total, *source.size), np.uint8)
    sheet: list[tuple[int, np.ndarray]] = []
    names = list(source.names)
    start = time.perf_counter()
    with (
        VideoWriter(staging / OVERLAY_NAME, fps=source.fps) as writer,
        tqdm(total=total, unit="frame", desc="demo", file=sys.stderr, leave=False) as bar,
    ):
        for out in track(predictor, (frame for _, frame in source), {0: first}):
            predictions[out.index] = out.labels
            write_palette_png(masks_dir / f"{names[out.index]}.png", out.labels, palette)
            shaded = overlay(out.frame, out.labels, palette)
            writer.write(shaded)
            if out.index in shown:
                sheet.append((out.index, shaded))
            bar.update(1)
    return predictions, sheet, time.perf_counter() - start


def write_sheet(staging: Path, sheet_images: list[tuple[int, np.ndarray]]) -> None:
    """The contact sheet of the picked overlay frames, as a PNG in `staging`."""
    sheet = contact_sheet(
        [image for _, image in sheet_images],
        SHEET_COLUMNS,
        [f"frame {index}" for index, _ in sheet_images],
    )
    Image.fromarray(sheet).save(staging / SHEET_NAME, format="PNG")
