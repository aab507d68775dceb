"""`gsfm bench first-mask`: how good and how fast `gsfm.first_mask.from_box` is.

The standard protocol of interactive segmentation (NoC, "number of clicks"): the box is the
object's tight box in the ground truth; after it, a simulated user puts each next stroke at
the centre of the largest wrong region (missed object: a foreground stroke; spill: a
background stroke), the point farthest from that region's edge (the maximum of its distance
transform). Reported per set: mean IoU after the box and after 1, 2, 3 and 5 corrections, the
mean number of corrections to reach IoU 0.85 and 0.90 (capped at `max_clicks`, counted as the
cap when never reached), the share of corrections that made IoU worse, the time per box and
per correction, and the box itself as a mask (the baseline a user has without GrabCut).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from gsfm.evaluation.metrics import region_similarity
from gsfm.first_mask import FirstMaskConfig, box_of, from_box

log = logging.getLogger(__name__)

REPORTED_CLICKS = (1, 2, 3, 5)
THRESHOLDS = (0.85, 0.90)
MAX_CLICKS = 20  # the usual NoC cap
MIN_OBJECT_PIXELS = 100  # objects smaller than this in a frame are not scored
WORSE = 0.01  # a correction that lowers IoU by more than this counts as a worse one


@dataclass
class Instance:
    """One object in one frame: the image and its ground-truth mask."""

    name: str
    image: np.ndarray  # [H, W, 3] uint8 RGB
    truth: np.ndarray  # [H, W] bool


@dataclass
class Trial:
    """What the simulated user got on one instance."""

    name: str
    box_iou: float  # the box as a mask
    ious: list[float]  # after the box, then after each correction
    box_seconds: float
    correction_seconds: list[float] = field(default_factory=list)

    def noc(self, threshold: float, cap: int) -> int:
        """Corrections needed to reach `threshold` (0 = the box was enough; `cap` = never)."""
        for clicks, iou in enumerate(self.ious):
            if iou >= threshold:
                return clicks
        return cap

    def iou_after(self, clicks: int) -> float:
        """IoU after `clicks` corrections (the last one when the user stopped earlier)."""
        return self.ious[min(clicks, len(self.ious) - 1)]


def stroke_radius(size: tuple[int, int]) -> int:
    """The simulated stroke's radius: 5 px at 480p, 3 px at 240p."""
    return max(2, int(np.ceil(min(size) / 96)))


def next_click(truth: np.ndarray, mask: np.ndarray) -> tuple[int, int, bool] | None:
    """(y, x, foreground) at the centre of the largest wrong region, or None when none.

    Missed pixels (truth, not mask) and spilled ones (mask, not truth) form separate regions;
    the largest by area is chosen, and in it the pixel farthest from its edge (the frame's
    border counts as an edge).
    """
    best: tuple[int, np.ndarray, bool] | None = None
    for wrong, foreground in ((truth & ~mask, True), (mask & ~truth, False)):
        count, parts, stats, _ = cv2.connectedComponentsWithStats(
            wrong.astype(np.uint8), connectivity=8
        )
        if count <= 1:
            continue
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        area = int(stats[largest, cv2.CC_STAT_AREA])
        if best is None or area > best[0]:
            best = (area, parts == largest, foreground)
    if best is None:
        return None
    _, region, foreground = best
    padded = np.pad(region.astype(np.uint8), 1)  # the border is an edge too
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(y), int(x), foreground


def paint(strokes: np.ndarray, y: int, x: int, radius: int, allowed: np.ndarray) -> None:
    """A disc stroke at (y, x), kept to `allowed` (a careful user paints on the right side)."""
    disc = np.zeros(strokes.shape, np.uint8)
    cv2.circle(disc, (x, y), radius, 1, thickness=-1)
    strokes |= disc.astype(bool) & allowed
    strokes[y, x] = True


def run_trial(
    instance: Instance,
    config: FirstMaskConfig,
    clicks: int = MAX_CLICKS,
    stop_at: float = max(THRESHOLDS),
    keep_going: int = max(REPORTED_CLICKS),
) -> Trial:
    """The box, then up to `clicks` simulated corrections; stops once IoU reaches `stop_at`
    and at least `keep_going` corrections were made (the rest would not change the table)."""
    truth = instance.truth
    box = box_of(truth)
    assert box is not None
    x0, y0, x1, y1 = box
    box_mask = np.zeros_like(truth)
    box_mask[y0:y1, x0:x1] = True
    start = time.perf_counter()
    mask = from_box(instance.image, box, config=config)
    trial = Trial(
        instance.name,
        float(region_similarity(truth, box_mask)),
        [float(region_similarity(truth, mask))],
        time.perf_counter() - start,
    )
    foreground = np.zeros_like(truth)
    background = np.zeros_like(truth)
    radius = stroke_radius(truth.shape)
    for done in range(1, clicks + 1):
        if trial.ious[-1] >= stop_at and done > keep_going:
            break
        click = next_click(truth, mask)
        if click is None:  # perfect: nothing left to correct
            trial.ious.append(trial.ious[-1])
            continue
        y, x, is_foreground = click
        if is_foreground:
            paint(foreground, y, x, radius, truth)
        else:
            paint(background, y, x, radius, ~truth)
        start = time.perf_counter()
        mask = from_box(instance.image, box, foreground, background, previous=mask, config=config)
        trial.correction_seconds.append(time.perf_counter() - start)
        trial.ious.append(float(region_similarity(truth, mask)))
    return trial


# ----------------------------------------------------------------------------- sets


def instances_of(
    name: str, frames: Sequence[np.ndarray], labels: Sequence[np.ndarray], indices: Sequence[int]
) -> Iterator[Instance]:
    """Every object of at least MIN_OBJECT_PIXELS pixels in the chosen frames."""
    for t in indices:
        for obj in (int(i) for i in np.unique(labels[t]) if i):
            truth = labels[t] == obj
            if truth.sum() >= MIN_OBJECT_PIXELS:
                yield Instance(f"{name}/{t:05d}/{obj}", frames[t], truth)


def sample_instances(every: int) -> list[Instance]:
    """Every `every`-th frame of the bundled sample clip, with its ground-truth masks."""
    from gsfm.data.masks import read_labels
    from gsfm.data.sample import find_sample, sample_dir
    from gsfm.data.video import open_frames

    sample = find_sample(sample_dir())
    frames = [frame for _, frame in open_frames(sample.video)]
    labels = [read_labels(path) for path in sample.masks]
    return list(instances_of("sample", frames, labels, range(0, len(frames), every)))


def procedural_instances(
    kind: str, videos: int, frames: Sequence[int], size: tuple[int, int], first: int = 0
) -> list[Instance]:
    """Objects of the held-out procedural benchmark videos `first` .. `first + videos - 1`
    (`kind` standard or hard) at the given frames, rendered at `size` (H, W). Videos 0-11
    are the reported ones; settings are chosen on 12-35 (gsfm.synthetic.benchmark)."""
    from gsfm.synthetic.benchmark import (
        DEFAULT_FRAMES,
        benchmark_clip,
        hard_clip,
        hard_plan,
        video_plan,
    )

    out: list[Instance] = []
    for i in range(first, first + videos):
        if kind == "hard":
            plan = hard_plan(i)
            clip = hard_clip(plan, DEFAULT_FRAMES, size)
        else:
            plan = video_plan(i)
            clip = benchmark_clip(plan, DEFAULT_FRAMES, size)
        out += instances_of(plan.name, clip.frames, clip.masks, frames)
    return out


# ----------------------------------------------------------------------------- summary


@dataclass
class SetResult:
    """The trials of one set and what they sum to."""

    name: str
    size: tuple[int, int]
    trials: list[Trial]
    cap: int

    def summary(self) -> dict[str, object]:
        trials = self.trials
        corrections = [s for t in trials for s in t.correction_seconds]
        steps = np.concatenate([np.diff(t.ious) for t in trials]) if trials else np.zeros(0)
        return {
            "set": self.name,
            "size": f"{self.size[1]}x{self.size[0]}",
            "instances": len(trials),
            "box_as_mask_iou": float(np.mean([t.box_iou for t in trials])),
            "iou": {
                str(k): float(np.mean([t.iou_after(k) for t in trials]))
                for k in (0, *REPORTED_CLICKS)
            },
            "noc": {
                f"{th:.2f}": float(np.mean([t.noc(th, self.cap) for t in trials]))
                for th in THRESHOLDS
            },
            "never_reached": {
                f"{th:.2f}": sum(max(t.ious) < th for t in trials) for th in THRESHOLDS
            },
            "worse_corrections": float(np.mean(steps < -WORSE)) if len(steps) else 0.0,
            "box_ms": 1000 * float(np.mean([t.box_seconds for t in trials])),
            "box_ms_max": 1000 * float(np.max([t.box_seconds for t in trials])),
            "correction_ms": 1000 * float(np.mean(corrections)) if corrections else 0.0,
            "correction_ms_max": 1000 * float(np.max(corrections)) if corrections else 0.0,
        }


def run_set(
    name: str,
    instances: Sequence[Instance],
    config: FirstMaskConfig,
    clicks: int = MAX_CLICKS,
    progress: Callable[[int, int], None] | None = None,
) -> SetResult:
    trials = []
    for k, instance in enumerate(instances):
        trials.append(run_trial(instance, config, clicks))
        if progress is not None:
            progress(k + 1, len(instances))
    size = instances[0].truth.shape if instances else (0, 0)
    return SetResult(name, (int(size[0]), int(size[1])), trials, clicks)


def table_rows(summaries: Sequence[dict]) -> tuple[list[str], list[list[str]]]:
    """The printed table: one row per set."""
    header = [
        "set",
        "size",
        "objects",
        "box as mask",
        "IoU box",
        *(f"IoU +{k}" for k in REPORTED_CLICKS),
        *(f"NoC@{th:.2f}" for th in THRESHOLDS),
        "worse",
        "ms/box",
        "ms/correction",
    ]
    rows = []
    for s in summaries:
        rows.append(
            [
                s["set"],
                s["size"],
                str(s["instances"]),
                f"{s['box_as_mask_iou']:.3f}",
                *(f"{s['iou'][str(k)]:.3f}" for k in (0, *REPORTED_CLICKS)),
                *(f"{s['noc'][f'{th:.2f}']:.2f}" for th in THRESHOLDS),
                f"{100 * s['worse_corrections']:.0f}%",
                f"{s['box_ms']:.0f}",
                f"{s['correction_ms']:.0f}",
            ]
        )
    return header, rows
