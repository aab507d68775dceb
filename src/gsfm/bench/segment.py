"""End to end: `gsfm segment` with its defaults on a 640x480 video, timed as a user waits for it.

A procedural clip (held-out benchmark video `CLIP_VIDEO`, one object, rendered at the size
asked and encoded as H.264, its first mask as a palette PNG) is segmented by the whole
command in a fresh process: start-up, decoding, the network, PNG writing. Each run records
its wall time and its CPU time (user + sys of the child process): on a machine shared with
other jobs the wall time swings with their load, the CPU time much less.

`--compare GSFM` times another installation's `gsfm` (e.g. the main branch's) on the same
clip, run for run interleaved with this one (A, B, A, B, ...), so that both meet the same
load; the rows then also say how many pixels of its masks equal this one's. Every row scores
its masks against the clip's ground truth (DAVIS J&F, first and last frame left out).
"""

from __future__ import annotations

import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gsfm.bench.report import text_table
from gsfm.data.masks import DAVIS_PALETTE, read_labels, write_palette_png
from gsfm.data.video import write_video
from gsfm.errors import GSFMError
from gsfm.evaluation.clip import score
from gsfm.synthetic.benchmark import benchmark_clip, video_plan

log = logging.getLogger(__name__)

CLIP_VIDEO = 3  # held-out benchmark video 3 has one object (as the 640x480 clip)
DEFAULT_SIZE = (480, 640)  # (height, width)
DEFAULT_FRAMES = (109,)
DEFAULT_REPEATS = 3
CLIP_FPS = 24.0


@dataclass(frozen=True)
class SegmentClip:
    """A clip on disk for `gsfm segment`, with its ground truth [T, H, W]."""

    video: Path
    mask: Path
    truth: np.ndarray = field(repr=False)

    @property
    def frames(self) -> int:
        return int(self.truth.shape[0])


def write_clip(folder: Path, frames: int, size: tuple[int, int] = DEFAULT_SIZE) -> SegmentClip:
    """Render `frames` frames of the benchmark clip at `size` (H, W) into `folder`."""
    clip = benchmark_clip(video_plan(CLIP_VIDEO), frames, size)
    folder.mkdir(parents=True, exist_ok=True)
    video = folder / f"clip-{size[1]}x{size[0]}-{frames}.mp4"
    mask = folder / f"clip-{size[1]}x{size[0]}-{frames}-first.png"
    write_video(video, clip.frames, fps=CLIP_FPS)
    write_palette_png(mask, clip.masks[0], DAVIS_PALETTE)
    return SegmentClip(video, mask, np.stack(clip.masks))


@dataclass
class SegmentRow:
    """The runs of one command on one clip: medians over the repeats."""

    command: str
    frames: int
    size: str
    walls: list[float]
    cpus: list[float]
    jf: float | None = None
    same_as_first: float | None = None  # fraction of pixels equal to the first command's

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(wall_s=self.wall, cpu_s=self.cpu, fps=self.frames / self.wall)
        return out


def own_command() -> list[str]:
    """This installation's `gsfm`, as the interpreter running the benchmark sees it."""
    return [sys.executable, "-m", "gsfm"]


def time_run(
    command: Sequence[str], clip: SegmentClip, out: Path, env: dict[str, str]
) -> tuple[float, float]:
    """Run `<command> segment` with its defaults on `clip` into `out`: (wall s, CPU s)."""
    argv = [*command, "segment", str(clip.video), "--mask", str(clip.mask)]
    argv += ["--out", str(out), "--overwrite"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise GSFMError(f"{' '.join(command)} segment failed: {tail[0]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def read_masks(folder: Path, frames: int) -> np.ndarray:
    """The label maps a segment run wrote (video frames are named 00000, 00001, ...)."""
    return np.stack([read_labels(folder / f"{i:05d}.png") for i in range(frames)])


def run_segment_bench(
    commands: Sequence[tuple[str, Sequence[str]]],
    frames: Sequence[int] = DEFAULT_FRAMES,
    size: tuple[int, int] = DEFAULT_SIZE,
    repeats: int = DEFAULT_REPEATS,
    threads: int | None = None,
    workdir: Path | None = None,
) -> list[SegmentRow]:
    """Time every (label, command) on a clip of each length, interleaved run by run."""
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)  # torch's intra-op threads in the child
    rows: list[SegmentRow] = []
    with tempfile.TemporaryDirectory(prefix="gsfm-bench-segment-", dir=workdir) as tmp:
        for count in frames:
            clip = write_clip(Path(tmp), count, size)
            label = f"{size[1]}x{size[0]}"
            mine = [SegmentRow(name, count, label, [], []) for name, _ in commands]
            for r in range(repeats):
                for row, (name, command) in zip(mine, commands):
                    wall, cpu = time_run(command, clip, Path(tmp) / f"out-{name}", env)
                    log.info(
                        "%s, %d frames, run %d: %.1f s (CPU %.1f s)", name, count, r, wall, cpu
                    )
                    row.walls.append(wall)
                    row.cpus.append(cpu)
            first = None
            for row, (name, _) in zip(mine, commands):
                masks = read_masks(Path(tmp) / f"out-{name}", count)
                row.jf = score(clip.truth, masks, [1]).jf
                first = masks if first is None else first
                row.same_as_first = float((masks == first).mean())
            rows += mine
    return rows


def format_rows(rows: Sequence[SegmentRow]) -> str:
    """The rows as a text table (medians; CPU = user + sys of the command)."""
    header = ["command", "size", "frames", "wall s", "CPU s", "frames/s", "J&F", "same px"]
    lines = [
        [
            r.command,
            r.size,
            str(r.frames),
            f"{r.wall:.1f}",
            f"{r.cpu:.1f}",
            f"{r.frames / r.wall:.2f}",
            "-" if r.jf is None else f"{r.jf:.3f}",
            "-" if r.same_as_first is None else f"{100 * r.same_as_first:.2f}%",
        ]
        for r in rows
    ]
    return text_table(header, lines)
