"""J and F per part of a long video (present / absent / returned) and the share of absent
frames left empty, on label maps whose scores are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gsfm.evaluation.metrics import boundary_f_measure
from gsfm.evaluation.parts import ABSENT, PRESENT, RETURNED, PartScorer, combine, part_labels


def test_part_labels_follow_the_ground_truth():
    present = np.array([[1, 1, 0, 0, 1, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 1, 1, 1, 0, 1]], bool)
    P, A, R = PRESENT, ABSENT, RETURNED
    assert part_labels(present, min_gap=3).tolist() == [
        [P, P, A, A, P, A, A, A, R, R],  # a 2-frame gap is not a return; a 3-frame one is
        [A, A, A, R, R, R, R, R, A, R],  # absent from the start: back after 3 frames
    ]


def square(size: int = 12) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    m[2:10, 2:10] = 1
    return m


def video() -> tuple[np.ndarray, np.ndarray]:
    """32 frames of one object: present 0-9, absent 10-21, back 22-31. The prediction is
    exact while present, non-empty on absent frames 10-14 (and empty on 15-21), and half
    the object (left 4 columns of 8) after it is back."""
    gt = np.zeros((32, 12, 12), np.uint8)
    pred = np.zeros_like(gt)
    gt[:10] = gt[22:] = square()
    pred[:10] = square()
    pred[10:15, 0:3, 0:3] = 1
    pred[22:, 2:10, 2:6] = 1
    return gt, pred


def test_scores_per_part_by_hand():
    gt, pred = video()
    scorer = PartScorer([1])
    scorer.add(gt, pred)
    s = scorer.summary()
    # frames 1..30 are scored (first and last left out)
    assert s["frames"] == 32 and s["present"].frames == 9 and s["absent"].frames == 12
    assert s["returned"].frames == 9
    assert s["present"].j == 1.0 and s["present"].f == 1.0
    # absent: J = F = 1 on the 7 empty frames, 0 on the 5 others
    assert s["absent"].j == pytest.approx(7 / 12) and s["absent"].f == pytest.approx(7 / 12)
    assert s["absent_empty"] == pytest.approx(7 / 12)
    # returned: J = 32 / 64; F from the official per-frame measure
    f_half = boundary_f_measure(gt[22], pred[22])
    assert s["returned"].j == pytest.approx(0.5)
    assert s["returned"].f == pytest.approx(f_half) and 0 < f_half < 1
    # all: mean over the 30 scored frames
    j_all = (9 * 1 + 7 * 1 + 5 * 0 + 9 * 0.5) / 30
    assert s["all"].j == pytest.approx(j_all)
    assert s["all"].jf == pytest.approx((s["all"].j + s["all"].f) / 2)


def test_chunks_score_as_one():
    gt, pred = video()
    whole, chunked = PartScorer([1]), PartScorer([1])
    whole.add(gt, pred)
    for start in range(0, 32, 5):
        chunked.add(gt[start : start + 5], pred[start : start + 5])
    a, b = whole.summary(), chunked.summary()
    assert a == b


def test_several_videos_average_over_objects():
    gt, pred = video()
    one = PartScorer([1])
    one.add(gt, pred)
    # a second video whose object is never absent and always found
    other = PartScorer([1])
    other.add(np.repeat(square()[None], 20, 0), np.repeat(square()[None], 20, 0))
    both = combine([one, other])
    assert both["objects"] == 2 and both["frames"] == 52
    assert both["present"].j == 1.0
    assert both["returned"].j == pytest.approx(0.5)  # only the first video has a return
    assert both["absent_empty"] == pytest.approx(7 / 12)
    assert both["all"].j == pytest.approx((one.summary()["all"].j + 1.0) / 2)


def test_no_absence_gives_nan():
    s = PartScorer([1])
    s.add(np.repeat(square()[None], 5, 0), np.repeat(square()[None], 5, 0))
    out = s.summary()
    assert math.isnan(out["absent_empty"]) and math.isnan(out["absent"].j)
    assert out["absent"].frames == 0
