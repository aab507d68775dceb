"""Write a `--dataset generic` root in either layout from procedural clips (tests only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gsfm.data.dataset_files import write_jpeg
from gsfm.data.masks import DAVIS_PALETTE, write_palette_png
from gsfm.data.video import write_video
from gsfm.synthetic.clips import make_clip


def write_generic(
    root: Path,
    layout: str,
    lengths: list[int],
    size: tuple[int, int] = (48, 64),
    *,
    seed: int = 0,
    late: bool = True,
) -> dict[str, np.ndarray]:
    """`layout` "frames" (JPEGImages + Annotations) or "files" (videos/*.mp4 + masks).

    Video i has `lengths[i]` frames and 1-2 objects; with `late`, odd videos get their second
    object at frame 2 (a second mask there). Returns each video's true label maps.
    """
    truth = {}
    for i, n in enumerate(lengths):
        name = f"clip{i:02d}"
        two = i % 2 == 1
        clip = make_clip(np.random.default_rng([seed, i]), n, *size, num_objects=2 if two else 1)
        truth[name] = clip.masks
        first = clip.masks[0].copy()
        joins = late and two and n > 2
        if joins:
            first[first == 2] = 0
        given = {0: first, **({2: clip.masks[2]} if joins else {})}
        if layout == "frames":
            for t in range(n):
                write_jpeg(root / "JPEGImages" / name / f"{t:05d}.jpg", clip.frames[t])
            for t, labels in given.items():
                write_palette_png(
                    root / "Annotations" / name / f"{t:05d}.png", labels, DAVIS_PALETTE
                )
        else:
            (root / "videos").mkdir(parents=True, exist_ok=True)
            write_video(root / "videos" / f"{name}.mp4", list(clip.frames))
            write_palette_png(root / "masks" / f"{name}.png", given[0], DAVIS_PALETTE)
            for t, labels in given.items():
                if t:  # later masks by index (and by frame name for the others)
                    write_palette_png(root / "masks" / name / f"{t}.png", labels, DAVIS_PALETTE)
    return truth
