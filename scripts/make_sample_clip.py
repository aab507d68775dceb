"""Regenerate the bundled sample clip (src/gsfm/assets/sample/) from its fixed held-out seed.

    python scripts/make_sample_clip.py [--out src/gsfm/assets/sample]

Writes clip.mp4 (H.264), first_mask.png (palette PNG of frame 0: what `gsfm segment --mask`
takes), masks/00000.png ... (ground truth of every frame, palette PNGs) and sample.json (how it
was made). The clip comes from `gsfm.synthetic.benchmark.sample_clip` (seed 10_000_000, outside
every training stream), so running this again gives the same files, byte for byte.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("make_sample_clip")

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "gsfm" / "assets" / "sample"
CRF = 20  # visually clean at 432x240, ~140 kB for 48 frames


def encode(frames_npy: Path, video: Path, fps: float) -> None:
    """H.264-encode the frames of an .npy file with one x264 thread.

    Run in a fresh process (`--encode`): in a process that has just generated the clip
    (OpenCV's thread pool, a busy heap) x264 gives slightly different bytes from run to run,
    even single-threaded; in a clean process its output is reproducible.
    """
    from gsfm.data.video import VideoWriter

    class SingleThreadWriter(VideoWriter):
        def _add_stream(self) -> Any:
            stream = super()._add_stream()
            stream.options = {**stream.options, "threads": "1"}
            stream.codec_context.thread_count = 1
            return stream

    frames = np.load(frames_npy)
    with SingleThreadWriter(video, fps, crf=CRF) as writer:
        for frame in frames:
            writer.write(frame)


def write_sample(out: Path) -> list[Path]:
    """Write the sample clip's files into `out` (replacing its masks folder); returns them."""
    from gsfm.data.masks import DAVIS_PALETTE, write_palette_png
    from gsfm.synthetic import benchmark as B

    clip = B.sample_clip()
    out.mkdir(parents=True, exist_ok=True)
    video = out / "clip.mp4"
    with tempfile.TemporaryDirectory() as tmp:
        npy = Path(tmp) / "frames.npy"
        np.save(npy, clip.frames)
        cmd = [sys.executable, __file__, "--encode", str(npy), str(video), str(B.SAMPLE_FPS)]
        subprocess.run(cmd, check=True)
    first = out / "first_mask.png"
    write_palette_png(first, clip.masks[0], DAVIS_PALETTE)
    masks = out / "masks"
    shutil.rmtree(masks, ignore_errors=True)
    masks.mkdir()
    for t, labels in enumerate(clip.masks):
        write_palette_png(masks / f"{t:05d}.png", labels, DAVIS_PALETTE)
    meta = {
        "description": "gsfm sample clip: procedural scene of scikit-image photo textures",
        "generator": "gsfm.synthetic.benchmark.sample_clip",
        "seed": B.SAMPLE_SEED,
        "frames": B.SAMPLE_FRAMES,
        "height": B.SAMPLE_SIZE[0],
        "width": B.SAMPLE_SIZE[1],
        "objects": B.SAMPLE_OBJECTS,
        "distractors": B.SAMPLE_DISTRACTORS,
        "fps": B.SAMPLE_FPS,
        "video": video.name,
        "first_mask": first.name,
        "masks": masks.name,
    }
    info = out / "sample.json"
    info.write_text(json.dumps(meta, indent=1) + "\n")
    return [video, first, masks, info]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"(default: {DEFAULT_OUT})")
    parser.add_argument("--encode", nargs=3, metavar=("NPY", "MP4", "FPS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.encode:
        npy, video, fps = args.encode
        encode(Path(npy), Path(video), float(fps))
        return 0
    written = write_sample(args.out)
    files = [f for p in written for f in ([p] if p.is_file() else sorted(p.iterdir()))]
    total = sum(f.stat().st_size for f in files)
    print(f"wrote {', '.join(str(p) for p in written)} ({total / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
