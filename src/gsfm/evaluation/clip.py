"""DAVIS J and F of one clip held in memory (label maps of ground truth and results), as the
demo and the end-to-end benchmark score the clips they segment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gsfm.errors import InputError
from gsfm.evaluation.davis import object_jf
from gsfm.evaluation.metrics import statistics


@dataclass
class Scores:
    """DAVIS scores of one run: per object id (J mean, F mean), and their means."""

    per_object: dict[int, tuple[float, float]]

    @property
    def j(self) -> float:
        return float(np.mean([j for j, _ in self.per_object.values()]))

    @property
    def f(self) -> float:
        return float(np.mean([f for _, f in self.per_object.values()]))

    @property
    def jf(self) -> float:
        return (self.j + self.f) / 2


def score(gt: np.ndarray, pred: np.ndarray, object_ids: list[int]) -> Scores:
    """DAVIS J and F means per object over frames 1..T-2 (all frames when fewer than 3)."""
    if gt.shape != pred.shape:
        raise InputError(f"ground truth {gt.shape} and masks {pred.shape} differ in shape")
    if len(gt) >= 3:
        gt, pred = gt[1:-1], pred[1:-1]
    per_object = {}
    for k in object_ids:
        j, f = object_jf(gt, pred, k)
        per_object[k] = (statistics(j)[0], statistics(f)[0])
    return Scores(per_object)
