"""label_scores (crops around each object) against the full-frame measures, digit for digit."""

from __future__ import annotations

import numpy as np
import pytest

from gsfm.evaluation.metrics import boundary_f_measure, label_scores, region_similarity


def random_labels(rng: np.random.Generator, shape: tuple[int, int], n_objects: int) -> np.ndarray:
    """Blobs and boxes of ids 1..n, some touching the image edges and corners."""
    h, w = shape
    labels = np.zeros(shape, np.uint8)
    for k in range(1, n_objects + 1):
        if rng.random() < 0.15:
            continue  # object absent in this map
        top, left = int(rng.integers(-h // 4, h)), int(rng.integers(-w // 4, w))
        bh, bw = int(rng.integers(1, h // 2 + 2)), int(rng.integers(1, w // 2 + 2))
        box = np.zeros(shape, bool)
        box[max(top, 0) : top + bh, max(left, 0) : left + bw] = True
        box &= rng.random(shape) < 0.9  # ragged edges and holes: long, jagged boundaries
        labels[box] = k
    return labels


def full_frame(gt: np.ndarray, pred: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    j = np.array([region_similarity(g == k, p == k) for g, p in zip(gt, pred)])
    f = np.array([boundary_f_measure(g == k, p == k) for g, p in zip(gt, pred)])
    return j, f


@pytest.mark.parametrize(
    ("shape", "seed"),
    [((30, 40), 0), ((100, 100), 1), ((61, 177), 2), ((240, 427), 3)],  # radius 1, 2, 2, 4
)
def test_crops_equal_full_frames(shape, seed):
    rng = np.random.default_rng(seed)
    n = 3
    gt = np.stack([random_labels(rng, shape, n) for _ in range(12)])
    pred = np.stack([random_labels(rng, shape, n) for _ in range(12)])
    # A few frames where the prediction is the ground truth moved by 1..3 px: F near, not at, 1.
    pred[:4] = np.roll(gt[:4], (1, 3), axis=(1, 2))
    gt[4], pred[5] = 1, 2  # an object filling the frame (no boundary at all)
    gt[6], pred[6] = 0, 0  # nothing anywhere
    gt[7, -1, -1] = pred[7, 0, 0] = 3  # single pixels in opposite corners
    j, f = label_scores(gt, pred, range(1, n + 1))
    assert j.shape == f.shape == (n, 12)
    for i, k in enumerate(range(1, n + 1)):
        exp_j, exp_f = full_frame(gt, pred, k)
        np.testing.assert_array_equal(j[i], exp_j)
        np.testing.assert_array_equal(f[i], exp_f)
    assert 0 < f.mean() < 1 and 0 < j.mean() < 1


def test_davis_size_frame_and_bound_th():
    rng = np.random.default_rng(7)
    gt = random_labels(rng, (480, 854), 2)[None]
    pred = np.roll(gt, (5, -9), axis=(1, 2))
    for bound_th in (0.008, 3, 0.02):
        j, f = label_scores(gt, pred, [1, 2], bound_th=bound_th)
        for i, k in enumerate((1, 2)):
            assert j[i, 0] == region_similarity(gt[0] == k, pred[0] == k)
            assert f[i, 0] == boundary_f_measure(gt[0] == k, pred[0] == k, bound_th=bound_th)


def test_ids_not_in_either_map_score_one_and_other_ids_are_ignored():
    gt = np.zeros((2, 20, 20), np.uint8)
    gt[:, 5:10, 5:10] = 1
    pred = gt.copy()
    pred[:, 12:18, 12:18] = 7  # an id nobody asks about
    j, f = label_scores(gt, pred, [1, 4])
    np.testing.assert_array_equal(j, np.ones((2, 2)))
    np.testing.assert_array_equal(f, np.ones((2, 2)))


def test_bad_inputs():
    a = np.zeros((2, 8, 8), np.uint8)
    with pytest.raises(ValueError, match="differ in shape"):
        label_scores(a, a[:1], [1])
    with pytest.raises(ValueError, match=r"\[T, H, W\]"):
        label_scores(a[0], a[0], [1])
    with pytest.raises(ValueError, match="integers"):
        label_scores(a.astype(np.float32), a, [1])
    with pytest.raises(ValueError, match=">= 1"):
        label_scores(a, a, [0])
