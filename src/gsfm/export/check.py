"""`gsfm export --check`: the exported graphs against PyTorch on the bundled sample clip.

Both backends run the same `VideoPredictor` (same engine, memory and readout) on the first
frames of the sample clip at its native size, from its first mask; the check reports the
largest per-pixel probability difference, the share of pixels whose label agrees, and each
backend's frames/s (after a two-frame warm-up, same thread count, the backends stepped in
lockstep so that load from other processes on a shared machine skews both alike).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from gsfm.data.masks import read_mask
from gsfm.data.sample import find_sample, sample_dir
from gsfm.data.video import open_frames
from gsfm.export.defaults import CHECK_FRAMES

if TYPE_CHECKING:
    from gsfm.inference.predictor import VideoPredictor

WARMUP_FRAMES = 2


@dataclass
class BackendRun:
    """One backend over the clip: per-frame probabilities and labels, and the time taken."""

    name: str
    probs: list[np.ndarray]
    labels: list[np.ndarray]
    seconds: float

    @property
    def fps(self) -> float:
        return len(self.probs) / max(self.seconds, 1e-9)


@dataclass
class CheckResult:
    """The comparison of two runs over the same frames."""

    reference: BackendRun
    candidate: BackendRun
    frame_size: tuple[int, int]
    objects: int

    @property
    def per_frame_max_diff(self) -> list[float]:
        return [
            float(np.abs(a - b).max()) for a, b in zip(self.reference.probs, self.candidate.probs)
        ]

    @property
    def max_diff(self) -> float:
        return max(self.per_frame_max_diff)

    def decided_agreement(self, margin: float = 1e-3) -> float:
        """Label agreement over the pixels whose reference top-two probabilities differ by
        more than `margin` (an untrained network leaves near-ties whose argmax any rounding
        flips; those pixels say nothing about the export)."""
        same = total = 0
        for prob, a, b in zip(self.reference.probs, self.reference.labels, self.candidate.labels):
            top2 = np.sort(prob, axis=0)[-2:]  # background + >= 1 object: >= 2 channels
            decided = (top2[1] - top2[0]) > margin
            same += int((a == b)[decided].sum())
            total += int(decided.sum())
        return same / max(total, 1)

    @property
    def label_agreement(self) -> float:
        pairs = zip(self.reference.labels, self.candidate.labels)
        same = sum(int((a == b).sum()) for a, b in pairs)
        total = sum(a.size for a in self.reference.labels)
        return same / total

    def lines(self) -> list[str]:
        h, w = self.frame_size
        frames = len(self.reference.probs)
        return [
            f"check: {frames} frames of the sample clip at {w}x{h}, {self.objects} objects, "
            f"{torch.get_num_threads()} thread(s)",
            f"largest probability difference: {self.max_diff:.2e}; labels agree on "
            f"{100 * self.label_agreement:.3f}% of pixels",
            f"{self.reference.name}: {self.reference.fps:.2f} frames/s",
            f"{self.candidate.name}: {self.candidate.fps:.2f} frames/s",
        ]


def sample_frames(count: int = CHECK_FRAMES) -> tuple[list[np.ndarray], np.ndarray]:
    """The first `count` frames (HxWx3 uint8) of the bundled sample clip and its first mask."""
    sample = find_sample(sample_dir())
    frames = []
    for _, frame in open_frames(sample.video):
        frames.append(np.asarray(frame))
        if len(frames) == count:
            break
    return frames, read_mask(sample.first_mask).labels


def compare(
    reference: VideoPredictor,
    candidate: VideoPredictor,
    frames: list[np.ndarray],
    first: np.ndarray,
    names: tuple[str, str] = ("pytorch", "onnxruntime"),
    repeats: int = 1,
) -> CheckResult:
    """Both predictors over the same frames in lockstep, each frame timed on each backend.

    After a warm-up, every pass steps both backends on frame t before frame t + 1, so load
    from other processes falls on both alike; a backend's time is the sum over frames of its
    fastest of `repeats` passes. Probabilities and labels come from the first pass.
    """
    predictors = (reference, candidate)
    runs = [BackendRun(name, [], [], 0.0) for name in names]
    for predictor in predictors:
        predictor.reset()
        for i, frame in enumerate(frames[:WARMUP_FRAMES]):
            predictor.step(frame, first if i == 0 else None)
    best = [[float("inf")] * len(frames) for _ in predictors]
    for r in range(repeats):
        for predictor in predictors:
            predictor.reset()
        for i, frame in enumerate(frames):
            mask, last = (first if i == 0 else None), i == len(frames) - 1
            for k, predictor in enumerate(predictors):
                start = time.perf_counter()
                labels, prob = predictor.step(frame, mask, True, last_frame=last)
                best[k][i] = min(best[k][i], time.perf_counter() - start)
                if r == 0:
                    runs[k].labels.append(labels)
                    runs[k].probs.append(prob)
    for run, times in zip(runs, best):
        run.seconds = sum(times)
    objects = len(reference.object_ids)
    return CheckResult(runs[0], runs[1], tuple(frames[0].shape[:2]), objects)  # type: ignore[arg-type]
