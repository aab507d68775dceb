"""J and F per part of a long video: while an object is present, absent, and after it returned.

A long video's one J&F mixes three questions: does the tracker follow a visible object, does
it say "not here" while the object is away, and does it find the object again? Each
(object, frame) falls in one part, from the ground truth alone:

- absent: the object has no pixel (J is then 1 for an empty prediction, 0 otherwise; the
  toolkit's convention, `evaluation.metrics`);
- returned: present after an absence of at least `min_gap` frames;
- present: the other visible frames (before its first long absence).

Each part's J and F are the official per-frame measures (`metrics.label_scores`), averaged
per object over the part's frames, then over the objects that have the part (as DAVIS
averages over objects). `absent_empty` is the fraction of absent (object, frame) pairs whose
prediction has no pixel of the object. The first and last frames are left out, as in DAVIS.
Scores accumulate a chunk of frames at a time, so a 5,000-frame video is never held whole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gsfm.evaluation.metrics import label_scores

PARTS = ("present", "absent", "returned")
PRESENT, ABSENT, RETURNED = range(3)
MIN_GAP = 10  # frames of absence after which the object's next frames count as "returned"


def part_labels(present: np.ndarray, min_gap: int = MIN_GAP) -> np.ndarray:
    """Bool [K, T] (object visible in frame t) -> int8 [K, T] of PRESENT / ABSENT / RETURNED."""
    present = np.asarray(present, dtype=bool)
    out = np.where(present, PRESENT, ABSENT).astype(np.int8)
    for k in range(present.shape[0]):
        run, returned = 0, False
        for t in range(present.shape[1]):
            if present[k, t]:
                returned = returned or run >= min_gap
                run = 0
                if returned:
                    out[k, t] = RETURNED
            else:
                run += 1
    return out


@dataclass
class PartSummary:
    """Scores of one part: J, F and their mean, and how many (object, frame) pairs it has."""

    j: float
    f: float
    frames: int

    @property
    def jf(self) -> float:
        return (self.j + self.f) / 2


class PartScorer:
    """Accumulates per-frame J, F, visibility and emptiness of each object, a chunk at a time.

    `add(gt, pred)` takes label maps [n, H, W] of the next n frames; `summary()` scores them.
    """

    def __init__(self, object_ids: Sequence[int]) -> None:
        self.object_ids = [int(k) for k in object_ids]
        self._j: list[np.ndarray] = []
        self._f: list[np.ndarray] = []
        self._present: list[np.ndarray] = []
        self._predicted: list[np.ndarray] = []

    @property
    def num_frames(self) -> int:
        return sum(j.shape[1] for j in self._j)

    def add(self, gt: np.ndarray, pred: np.ndarray) -> None:
        """Score the next frames: ground truth and predicted label maps [n, H, W]."""
        j, f = label_scores(gt, pred, self.object_ids)
        ids = np.array(self.object_ids).reshape(1, -1, 1, 1)
        self._j.append(j)
        self._f.append(f)
        self._present.append((gt[:, None] == ids).any(axis=(2, 3)).T)
        self._predicted.append((pred[:, None] == ids).any(axis=(2, 3)).T)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(J, F, visible, predicted non-empty) as [K, T] over the scored frames (the first
        and last left out)."""
        whole = [np.concatenate(x, axis=1) for x in (self._j, self._f)]
        whole += [np.concatenate(x, axis=1) for x in (self._present, self._predicted)]
        return tuple(a[:, 1:-1] for a in whole)  # type: ignore[return-value]

    def parts(self, min_gap: int = MIN_GAP) -> np.ndarray:
        """Part of each scored (object, frame) [K, T - 2]. Decided on the whole video (a
        return after an absence that began in frame 0 counts), then cut like the scores."""
        return part_labels(np.concatenate(self._present, axis=1), min_gap)[:, 1:-1]

    def summary(self, min_gap: int = MIN_GAP) -> dict[str, object]:
        """J&F over all scored frames (DAVIS: per object, then over objects), per part, and
        the fraction of absent (object, frame) pairs predicted empty."""
        return combine([self], min_gap)


def combine(scorers: Sequence[PartScorer], min_gap: int = MIN_GAP) -> dict[str, object]:
    """Scores over one or several videos: per-object means, averaged over every video's
    objects ("all", each part), and `absent_empty` pooled over the absent (object, frame)
    pairs."""
    j, f = [], []
    where: dict[str, list[np.ndarray]] = {n: [] for n in ("all", *PARTS)}
    absent = empty = 0
    for s in scorers:
        sj, sf, visible, predicted = s.arrays()
        parts = s.parts(min_gap)
        j.append(sj)
        f.append(sf)
        where["all"].append(np.ones_like(sj, dtype=bool))
        for code, name in enumerate(PARTS):
            where[name].append(parts == code)
        absent += int(np.count_nonzero(~visible))
        empty += int(np.count_nonzero(~visible & ~predicted))
    out: dict[str, object] = {
        "frames": sum(s.num_frames for s in scorers),
        "objects": sum(len(s.object_ids) for s in scorers),
    }
    for name, masks in where.items():
        out[name] = _pooled(j, f, masks)
    out["absent_empty"] = empty / absent if absent else math.nan
    return out


def _pooled(j: list[np.ndarray], f: list[np.ndarray], where: list[np.ndarray]) -> PartSummary:
    """Per-object means over `where` in each video, averaged over all videos' objects."""
    jm, fm, frames = [], [], 0
    for sj, sf, w in zip(j, f, where):
        have = w.any(axis=1)
        counts = w.sum(axis=1)[have]
        jm += list(np.where(w, sj, 0).sum(axis=1)[have] / counts)
        fm += list(np.where(w, sf, 0).sum(axis=1)[have] / counts)
        frames += int(w.sum())
    if not jm:
        return PartSummary(math.nan, math.nan, 0)
    return PartSummary(float(np.mean(jm)), float(np.mean(fm)), frames)
