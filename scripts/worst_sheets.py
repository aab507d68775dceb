"""Contact sheets of the worst-scored videos of a DAVIS-2017-layout result, for the docs.

    python scripts/worst_sheets.py --root data/hard --results results/hard --out docs --count 3

Reads `per-sequence_results-val.csv` (written by `gsfm evaluate` beside the results), ranks
videos by the mean J&F of their objects, and writes docs-sized PNGs (`<prefix>-<video>.png`):
a row of ground-truth overlays above a row of result overlays, `--frames` evenly spaced frames,
in 256 colours.
"""

from __future__ import annotations

import argparse
import csv
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from gsfm.data.overlay import contact_sheet, overlay

log = logging.getLogger("worst_sheets")


def video_scores(results: Path, split: str) -> dict[str, float]:
    """Mean J&F per video (the mean over its objects of (J + F) / 2)."""
    per: dict[str, list[float]] = defaultdict(list)
    with open(results / f"per-sequence_results-{split}.csv", newline="") as f:
        for row in csv.DictReader(f):
            video = row["Sequence"].rsplit("_", 1)[0]
            per[video].append((float(row["J-Mean"]) + float(row["F-Mean"])) / 2)
    return {v: float(np.mean(s)) for v, s in per.items()}


def sheet(root: Path, results: Path, video: str, frames: int, width: int) -> np.ndarray:
    """Ground truth (top) and result (bottom) overlays of `frames` evenly spaced frames."""
    jpgs = sorted((root / "JPEGImages" / "480p" / video).glob("*.jpg"))
    picks = np.linspace(0, len(jpgs) - 1, frames).round().astype(int)
    cells, captions = [], []
    for source, tag in (
        (root / "Annotations" / "480p" / video, "truth"),
        (results / video, "gsfm"),
    ):
        for t in picks:
            frame = np.asarray(Image.open(jpgs[t]).convert("RGB"))
            labels = np.asarray(Image.open(source / f"{jpgs[t].stem}.png"))
            cell = Image.fromarray(overlay(frame, labels))
            height = round(cell.height * width / cell.width)
            cells.append(np.asarray(cell.resize((width, height), Image.BILINEAR)))
            captions.append(f"{tag} {t}")
    return contact_sheet(cells, frames, captions)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="DAVIS 2017 layout dataset")
    parser.add_argument("--results", type=Path, required=True, help="scored results folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    parser.add_argument("--split", default="val")
    parser.add_argument("--count", type=int, default=3, help="videos (default: 3)")
    parser.add_argument("--frames", type=int, default=6, help="frames per row (default: 6)")
    parser.add_argument("--width", type=int, default=216, help="cell width px (default: 216)")
    parser.add_argument("--prefix", default="hard-worst", help="file name prefix")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    scores = video_scores(args.results, args.split)
    worst = sorted(scores, key=scores.get)[: args.count]
    args.out.mkdir(parents=True, exist_ok=True)
    for rank, video in enumerate(worst, 1):
        path = args.out / f"{args.prefix}-{rank}-{video}.png"
        image = sheet(args.root, args.results, video, args.frames, args.width)
        # 256 colours: a docs-sized file (< 300 KB) that still shows textures and outlines
        Image.fromarray(image).quantize(256).save(path, optimize=True)
        log.info(
            "%d. %s J&F %.3f -> %s (%d KB)",
            rank,
            video,
            scores[video],
            path,
            path.stat().st_size // 1024,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
